import EmporiumCore
import EmporiumStorage
import Foundation
import Logging

/// What runs after the commit, assembled once for `emporium serve` and `emporium worker`:
/// the outbox relay and its consumers (e-mail, webhooks), the job kinds and the runner.
struct Background: Sendable {
    let runner: JobRunner
    let housekeeping: Housekeeping
    /// Opened by `recover` once the database is ready; background services wait for it.
    let gate = StartGate()

    init(
        configuration: AppConfiguration, database: any Database, jobs: JobStore, commerce: Commerce, webhooks: Webhooks,
        passwordReset: PasswordReset, notifications: OrderNotifications, metrics: AppMetrics, clock: any WallClock,
        logger: Logger
    ) {
        let retention = TimeInterval(configuration.eventRetention.components.seconds)
        var kinds: [String: JobKind] = [:]
        let relayForPurge = OutboxRelay(database: database, jobs: jobs, consumers: [], kinds: [:], clock: clock, batchSize: 200)
        housekeeping = Housekeeping(
            database: database, idempotency: commerce.idempotency, relay: relayForPurge, jobs: jobs, carts: commerce.carts,
            webhooks: webhooks.store, retention: retention,
            guestCartRetention: TimeInterval(configuration.guestCartRetention.components.seconds), clock: clock, logger: logger)
        for kind in commerce.orderService.jobKinds + notifications.jobKinds + webhooks.jobKinds
            + [passwordReset.jobKind, housekeeping.jobKind]
        {
            kinds[kind.name] = kind
        }
        let relay = OutboxRelay(
            database: database, jobs: jobs, consumers: [notifications, webhooks.consumer], kinds: kinds, clock: clock,
            batchSize: 200)
        runner = JobRunner(
            database: database, store: jobs, relay: relay, kinds: kinds,
            periodic: [PeriodicJob(kind: Housekeeping.kind, every: 3600)],
            settings: .init(
                concurrency: max(configuration.workers, 1),
                worker: "\(configuration.effectiveNodeID)/\(UUID().uuidString.prefix(8).lowercased())"),
            clock: clock, metrics: metrics, logger: logger, gate: gate)
        runner.registerGauges()
    }

    /// At start-up, after migrations: frees what this node's previous process held (its
    /// unanswered idempotency claims, its running jobs), so retries get their answers at once.
    /// `freeJobs` is false where the node id may be shared (several workers on one host
    /// without `--node-id`): their jobs come back when their leases end instead.
    func recover(idempotency: Idempotency?, freeJobs: Bool, logger: Logger) async throws {
        if let claims = try await idempotency?.releaseClaims(), claims > 0 {
            logger.notice("Freed \(claims) idempotency keys that requests of this node's previous process held")
        }
        if freeJobs { try await runner.recover() }
        gate.open()
    }
}

/// Lets an embedding program (and the tests) run the background work on demand.
public struct BackgroundControl: Sendable {
    let runner: JobRunner
    let housekeeping: Housekeeping
    let sweeper: ReservationSweeper

    /// Settles pending orders whose reservation has run out (as the sweeper does every few
    /// minutes); returns how many were settled.
    @discardableResult
    public func sweepUnpaidOrders() async throws -> Int {
        try await sweeper.sweep()
    }

    /// Relays every event and runs every due job until none is due; returns how many ran.
    @discardableResult
    public func drain() async throws -> Int {
        try await runner.drain()
    }

    /// Runs the housekeeping purge now; returns the rows removed per table.
    @discardableResult
    public func purge() async throws -> [String: Int] {
        try await housekeeping.purge()
    }

    /// Takes back jobs whose lease has passed (as the runner does every few seconds).
    @discardableResult
    public func releaseExpiredLeases() async throws -> Int {
        try await runner.store.releaseExpiredLeases(at: runner.clock.now(), on: runner.database)
    }
}
