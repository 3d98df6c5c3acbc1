import EmporiumCore
import EmporiumStorage
import Foundation
import CoreMetrics
import Logging
import ServiceLifecycle
import Synchronization

/// Runs background work: relays the outbox into jobs, claims due jobs and runs their
/// handlers, takes back jobs whose worker died, and queues the periodic housekeeping.
///
/// Any number of runners on any number of nodes share one database: claims are atomic, so
/// each job runs once per attempt. On graceful shutdown a runner stops claiming and lets the
/// jobs it holds finish.
struct JobRunner: Service {
    struct Settings: Sendable {
        /// Jobs run at once by this process.
        var concurrency: Int
        /// How long a claimed job belongs to its worker; a handler must finish well within it.
        var lease: TimeInterval = 120
        /// How often an idle runner looks for work.
        var pollInterval: Duration = .milliseconds(250)
        /// Identifies this process among the workers (`node/process`).
        var worker: String
    }

    let database: any Database
    let store: JobStore
    let relay: OutboxRelay
    let kinds: [String: JobKind]
    let periodic: [PeriodicJob]
    let settings: Settings
    let clock: any WallClock
    let metrics: AppMetrics
    let logger: Logger
    /// Opened once the database is migrated and this node's leftovers are freed.
    let gate: StartGate

    func run() async throws {
        await gate.wait()
        let running = RunningJobs()
        var lastMaintenance: ContinuousClock.Instant?
        var lastUpkeep = ContinuousClock.now
        var lastClaim = ContinuousClock.now
        // The last claim took all it asked for: more jobs are probably due.
        var backlog = false
        let batch = max(1, settings.concurrency / 2)
        /// Takes back lost leases and queues periodic jobs (every 5 s), and relays the outbox.
        func upkeep() async throws {
            lastUpkeep = .now
            if lastMaintenance.map({ ContinuousClock.now - $0 > .seconds(5) }) ?? true {
                lastMaintenance = .now
                try await maintain()
            }
            try await relay.publishAll()
        }
        await withDiscardingTaskGroup { group in
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                var claimed = 0
                // Every slot busy, or a backlog with fewer than a batch of slots free (for at
                // most 20 ms): look again soon. Under a backlog a claim then takes a batch of
                // jobs in one write instead of one job per write as slots free up. The relay
                // and the upkeep still run meanwhile, at the idle poll's pace, so slow jobs
                // holding every slot do not hold back events.
                let busy = running.count.load(ordering: .relaxed)
                let gathering = backlog && busy > 0 && settings.concurrency - busy < batch
                    && ContinuousClock.now - lastClaim < .milliseconds(20)
                if busy >= settings.concurrency || gathering {
                    if ContinuousClock.now - lastUpkeep > settings.pollInterval {
                        do {
                            try await upkeep()
                        } catch {
                            if Task.isCancelled { break }
                            logger.warning("The job runner could not reach the database; retrying", metadata: ["error": "\(error)"])
                        }
                    }
                    try? await Task.sleep(for: .milliseconds(5))
                    continue
                }
                do {
                    try await upkeep()
                    let free = settings.concurrency - running.count.load(ordering: .relaxed)
                    if free > 0 {
                        let jobs = try await claim(limit: free)
                        lastClaim = .now
                        backlog = jobs.count == free
                        for job in jobs {
                            claimed += 1
                            running.count.add(1, ordering: .relaxed)
                            group.addTask {
                                await execute(job)
                                running.count.subtract(1, ordering: .relaxed)
                            }
                        }
                    }
                } catch {
                    if Task.isCancelled { break }
                    logger.warning("The job runner could not reach the database; retrying", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                }
                // Idle: wait for the poll. Work found: look again at once.
                if claimed == 0 { try? await Task.sleep(for: settings.pollInterval) }
            }
        }
    }

    /// Frees what a previous life of this process held, before it claims anything.
    func recover() async throws {
        let node = settings.worker.split(separator: "/").first.map(String.init) ?? settings.worker
        let released = try await store.releaseJobs(lockedByPrefix: node, at: clock.now(), on: database)
        if released > 0 { logger.notice("Took back \(released) jobs that this node held when it stopped") }
    }

    /// Takes back jobs whose lease passed and queues periodic jobs that are due.
    func maintain() async throws {
        let now = clock.now()
        let released = try await store.releaseExpiredLeases(at: now, on: database)
        if released > 0 { logger.notice("Took back \(released) jobs whose worker stopped before finishing") }
        for job in periodic {
            try await store.enqueue(try job.request(at: now), maxAttempts: kinds[job.kind]?.maxAttempts ?? 5, at: now, on: database)
        }
    }

    private func claim(limit: Int) async throws -> [Job] {
        let now = clock.now()
        guard try await store.anyDue(at: now, on: database) else { return [] }
        return try await store.claim(
            limit: limit, worker: settings.worker, leaseEnd: now.addingTimeInterval(settings.lease), at: now, on: database)
    }

    /// Runs one job's handler and records what came of it. Never throws: a failure to record
    /// leaves the job running until its lease ends, and then it runs again.
    func execute(_ job: Job) async {
        let started = ContinuousClock.now
        var log = logger
        log[metadataKey: "job"] = "\(job.id)"
        log[metadataKey: "kind"] = "\(job.kind)"
        let outcome: String
        do {
            guard let kind = kinds[job.kind] else { throw JobFailure.permanent("no handler for jobs of kind \(job.kind)") }
            do {
                try await withLeaseKept(job) { try await kind.handle(job) }
                if let finish = kind.finish {
                    try await database.transaction { db in
                        // Only while this worker still holds the job: one that took it over
                        // after the lease ran out finishes it instead.
                        if try await store.complete(job, worker: settings.worker, at: clock.now(), on: db) {
                            try await finish(job, db)
                        }
                    }
                } else {
                    try await store.complete(job, worker: settings.worker, at: clock.now(), on: database)
                }
                outcome = "succeeded"
            } catch let failure as JobFailure {
                outcome = try await record(failure, of: job, kind: kind, log: log)
            } catch {
                outcome = try await record(.retry(String(describing: error)), of: job, kind: kind, log: log)
            }
        } catch let failure as JobFailure {
            outcome = (try? await record(failure, of: job, kind: nil, log: log)) ?? "unrecorded"
        } catch {
            // Stopping (the process shuts down, or never finished starting) closes the database
            // under a job in flight: expected, and the lease brings the job back. Otherwise the
            // database failed while the process runs, which an operator should see.
            if Task.isCancelled || Task.isShuttingDownGracefully {
                log.notice("Stopped before a job's outcome was recorded; it runs again when its lease ends", metadata: ["error": "\(error)"])
            } else {
                log.error("Recording a job's outcome failed; it runs again when its lease ends", metadata: ["error": "\(error)"])
            }
            outcome = "unrecorded"
        }
        metrics.counter("emporium_jobs_total", [("kind", job.kind), ("outcome", outcome)]).increment()
        metrics.timer("emporium_job_duration_seconds", [("kind", job.kind)])
            .recordNanoseconds(Int64(clamping: (ContinuousClock.now - started).nanoseconds))
    }

    /// Runs `body` while renewing the job's lease every third of it, so a slow handler (an SMTP
    /// server that answers each step just in time) keeps its job and no other worker runs it
    /// again meanwhile. Only a worker that stops renewing — one that died — loses it.
    private func withLeaseKept(_ job: Job, _ body: @escaping @Sendable () async throws -> Void) async throws {
        let store = store, database = database, clock = clock, settings = settings
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await body()
                return true
            }
            group.addTask {
                while true {
                    do {
                        try await Task.sleep(for: .seconds(settings.lease / 3))
                    } catch {
                        return false
                    }
                    let now = clock.now()
                    _ = try? await store.extendLease(
                        job, worker: settings.worker, until: now.addingTimeInterval(settings.lease), at: now, on: database)
                }
            }
            // The handler's result (or error) ends the wait; the renewal stops with it.
            while let finished = try await group.next() {
                if finished {
                    group.cancelAll()
                    return
                }
            }
        }
    }

    private func record(_ failure: JobFailure, of job: Job, kind: JobKind?, log: Logger) async throws -> String {
        let now = clock.now()
        switch failure {
        case .notYet(let date, let note):
            try await store.postpone(job, worker: settings.worker, until: date, note: note, at: now, on: database)
            return "postponed"
        case .permanent(let reason):
            try await store.fail(job, worker: settings.worker, error: reason, retryAt: nil, at: now, on: database)
            log.error("A job failed for good and is dead; retry it from the admin API once the cause is fixed", metadata: ["error": "\(reason)"])
            return "dead"
        case .retry(let reason, let after):
            let maxAttempts = job.maxAttempts
            guard job.attempts < maxAttempts, let kind else {
                try await store.fail(job, worker: settings.worker, error: reason, retryAt: nil, at: now, on: database)
                log.error("A job failed \(job.attempts) times and is dead; retry it from the admin API once the cause is fixed", metadata: ["error": "\(reason)"])
                return "dead"
            }
            let delay = max(after ?? 0, kind.backoff(job.attempts))
            try await store.fail(job, worker: settings.worker, error: reason, retryAt: now.addingTimeInterval(delay), at: now, on: database)
            log.warning("A job failed; it runs again in \(Int(delay)) s", metadata: ["error": "\(reason)", "attempt": "\(job.attempts)"])
            return "retried"
        }
    }

    /// Relays every event and runs every due job until nothing is due, in this task: for
    /// tests and for `emporium worker --drain`. Returns how many jobs ran.
    @discardableResult
    func drain() async throws -> Int {
        var ran = 0
        while true {
            try await relay.publishAll()
            let jobs = try await claim(limit: 50)
            if jobs.isEmpty {
                if try await database.queryFirst("SELECT id FROM outbox WHERE published_at IS NULL LIMIT 1") == nil { return ran }
                continue
            }
            for job in jobs { await execute(job) }
            ran += jobs.count
        }
    }

    /// Queue depth, oldest due job's age per kind, dead jobs and outbox lag as gauges.
    func registerGauges() {
        let database = database, store = store, relay = relay, clock = clock, metrics = metrics, kinds = kinds
        metrics.onScrape {
            let now = clock.now()
            guard let figures = try? await store.queueFigures(at: now, on: database),
                let dead = try? await store.deadCounts(on: database),
                let lag = try? await relay.lag(on: database)
            else { return }
            for kind in kinds.keys.sorted() {
                let figure = figures.first { $0.kind == kind }
                metrics.gauge("emporium_jobs_queued", [("kind", kind)]).record(figure?.depth ?? 0)
                metrics.gauge("emporium_jobs_oldest_due_seconds", [("kind", kind)])
                    .record(figure?.oldestDue.map { max(0, now.timeIntervalSince($0)) } ?? 0)
                metrics.gauge("emporium_jobs_dead", [("kind", kind)]).record(dead.first { $0.kind == kind }?.count ?? 0)
            }
            metrics.gauge("emporium_outbox_unpublished").record(lag.count)
            metrics.gauge("emporium_outbox_lag_seconds").record(lag.oldest.map { max(0, now.timeIntervalSince($0)) } ?? 0)
        }
    }
}

/// How many jobs this runner has going.
private final class RunningJobs: Sendable {
    let count = Atomic<Int>(0)
}

/// A job queued on a schedule by every runner; its unique key names the period, so however
/// many nodes queue it, it runs once per period.
struct PeriodicJob: Sendable {
    let kind: String
    let every: TimeInterval

    func request(at now: Date) throws -> JobRequest {
        let period = Int64(now.timeIntervalSince1970 / every)
        return try JobRequest(kind: kind, payload: [String: String](), uniqueKey: "\(kind):\(period)")
    }
}
