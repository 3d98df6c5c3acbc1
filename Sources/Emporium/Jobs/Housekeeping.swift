import EmporiumCore
import EmporiumStorage
import Foundation
import Logging

/// The periodic purge: expired idempotency keys, published events and finished jobs past the
/// retention period, webhook delivery logs past theirs, and guest carts nobody touched for a
/// while. Each table is purged by its own store, in batches, so no statement holds the SQLite
/// writer for long.
struct Housekeeping: Sendable {
    static let kind = "housekeeping.purge"
    static let batch = 1000

    let database: any Database
    let idempotency: Idempotency
    let relay: OutboxRelay
    let jobs: JobStore
    let carts: CartStore
    let webhooks: WebhookStore
    /// How long published events, finished jobs and delivery logs are kept.
    let retention: TimeInterval
    /// How long an untouched guest cart is kept.
    let guestCartRetention: TimeInterval
    let clock: any WallClock
    let logger: Logger

    var jobKind: JobKind {
        JobKind(Self.kind, maxAttempts: 5) { _ in try await purge() }
    }

    /// Purges everything due; returns how many rows went, per table.
    @discardableResult
    func purge() async throws -> [String: Int] {
        let now = clock.now()
        var removed: [String: Int] = [:]
        func drain(_ table: String, _ step: () async throws -> Int) async throws {
            var total = 0
            while true {
                let count = try await step()
                total += count
                if count < Self.batch { break }
            }
            if total > 0 { removed[table] = total }
        }
        try await drain("idempotency_keys") { try await idempotency.purgeExpired(batch: Self.batch) }
        try await drain("outbox") { try await relay.purgePublished(before: now.addingTimeInterval(-retention), batch: Self.batch) }
        try await drain("jobs") { try await jobs.purgeDone(before: now.addingTimeInterval(-retention), batch: Self.batch, on: database) }
        try await drain("webhook_deliveries") {
            try await webhooks.purgeDeliveries(before: now.addingTimeInterval(-retention), batch: Self.batch, on: database)
        }
        try await drain("carts") {
            try await carts.purgeAbandonedGuestCarts(
                untouchedSince: now.addingTimeInterval(-guestCartRetention), batch: Self.batch, on: database)
        }
        if !removed.isEmpty {
            logger.info("Housekeeping purged old rows", metadata: ["removed": "\(removed.sorted { $0.key < $1.key })"])
        }
        return removed
    }
}
