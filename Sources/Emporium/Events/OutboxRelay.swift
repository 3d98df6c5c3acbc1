import EmporiumCore
import EmporiumStorage
import Foundation

/// Turns outbox rows into jobs: at least once (an event is marked published in the same
/// transaction that queues its jobs, and unique keys make a repeat harmless) and in order per
/// aggregate (jobs carry the event's sequence under an ordering key).
///
/// One relay runs at a time across all nodes: on PostgreSQL it takes a transaction-scoped
/// advisory lock and steps aside when another node holds it; on SQLite the single writer
/// serialises it.
struct OutboxRelay: Sendable {
    /// "EMPO" + 1, the migration runner's lock constant plus one, per schema.
    static let lockArguments: SQL = "1162694736, hashtext(current_schema())"

    let database: any Database
    let jobs: JobStore
    let consumers: [any EventConsumer]
    let kinds: [String: JobKind]
    let clock: any WallClock
    let batchSize: Int

    /// Publishes one batch; returns how many events it published (0 when there was nothing to
    /// do or another node is publishing).
    @discardableResult
    func publishBatch() async throws -> Int {
        // A cheap read first, so an idle relay does not take the SQLite writer.
        guard try await database.queryFirst("SELECT id FROM outbox WHERE published_at IS NULL LIMIT 1") != nil else { return 0 }
        return try await database.transaction { db in
            if db.dialect == .postgres {
                let locked: Bool = try await db.queryFirst("SELECT pg_try_advisory_xact_lock(\(Self.lockArguments)) AS locked")?
                    .decode("locked") ?? false
                guard locked else { return 0 }
            }
            // An event waits while an earlier one of its aggregate is unpublished: creation times
            // can disagree with sequence numbers, and a page must never start an aggregate's
            // events in the middle.
            let events = try await db.query("""
                SELECT * FROM outbox WHERE published_at IS NULL
                  AND NOT EXISTS (
                      SELECT 1 FROM outbox earlier
                      WHERE earlier.published_at IS NULL AND earlier.aggregate_type = outbox.aggregate_type
                        AND earlier.aggregate_id = outbox.aggregate_id AND earlier.sequence < outbox.sequence)
                ORDER BY created_at, id LIMIT \(batchSize)
                """).map(OutboxEvent.init(row:))
                .sorted { ($0.aggregateType, $0.aggregateID, $0.sequence) < ($1.aggregateType, $1.aggregateID, $1.sequence) }
            guard !events.isEmpty else { return 0 }
            let now = clock.now()
            for consumer in consumers {
                for request in try await consumer.jobs(for: events, on: db) {
                    try await jobs.enqueue(request, maxAttempts: kinds[request.kind]?.maxAttempts ?? 20, at: now, on: db)
                }
            }
            let ids = SQL.joined(events.map { "\($0.id)" }, separator: ", ")
            try await db.execute("UPDATE outbox SET published_at = \(now) WHERE id IN (\(ids))")
            return events.count
        }
    }

    /// Publishes until nothing is left; returns how many.
    @discardableResult
    func publishAll() async throws -> Int {
        var total = 0
        while true {
            let published = try await publishBatch()
            total += published
            if published < batchSize { return total }
        }
    }

    /// Deletes events published before `cutoff`, a batch at a time; returns how many.
    func purgePublished(before cutoff: Date, batch: Int) async throws -> Int {
        try await database.query("""
            DELETE FROM outbox WHERE id IN (
                SELECT id FROM outbox WHERE published_at IS NOT NULL AND published_at < \(cutoff) LIMIT \(batch))
            RETURNING id
            """).count
    }

    /// Oldest unpublished event's age and the count, for /metrics.
    func lag(on db: any SQLExecutor) async throws -> (count: Int64, oldest: Date?) {
        let row = try await db.queryFirst("""
            SELECT CAST(COUNT(*) AS BIGINT) AS n, MIN(created_at) AS oldest FROM outbox WHERE published_at IS NULL
            """)
        return (try row?.decode("n") ?? 0, try row?.decode("oldest"))
    }
}
