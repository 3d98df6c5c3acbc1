import EmporiumCore
import EmporiumStorage
import Foundation

/// The `jobs` table: the only code that writes it.
struct JobStore: Sendable {
    let ids: any IDGenerator

    /// Queues a job; false when a job with its unique key already exists. With `rearm`, a done
    /// or dead job of that key is made pending again instead (follow-ups that must run again
    /// whenever their cause comes back, such as checking a payment after a later capture).
    @discardableResult
    func enqueue(
        _ request: JobRequest, maxAttempts: Int64, rearm: Bool = false, at now: Date, on db: any SQLExecutor
    ) async throws -> Bool {
        let conflict: SQL = rearm
            ? """
              ON CONFLICT (unique_key) DO UPDATE SET state = 'pending', run_at = \(request.runAt ?? now), attempts = 0,
                  payload = excluded.payload, finished_at = NULL, last_error = NULL, updated_at = \(now)
              WHERE jobs.state IN ('done', 'dead')
              """
            : "ON CONFLICT DO NOTHING"
        let inserted = try await db.queryFirst("""
            INSERT INTO jobs (id, kind, payload, state, attempts, run_at, created_at, updated_at, unique_key, ordering_key,
                              ordering_seq, max_attempts)
            VALUES (\(ids.makeUUID().lowercasedString), \(request.kind), \(request.payload), 'pending', 0,
                    \(request.runAt ?? now), \(now), \(now), \(request.uniqueKey), \(request.orderingKey),
                    \(request.orderingSequence), \(request.maxAttempts ?? maxAttempts))
            \(conflict) RETURNING id
            """)
        return inserted != nil
    }

    /// Deletes the job with `uniqueKey` if it has not started: a follow-up whose cause was
    /// settled by the request itself. A running one is left to finish (it finds nothing to do).
    func withdraw(uniqueKey: String, on db: any SQLExecutor) async throws {
        try await db.execute("DELETE FROM jobs WHERE unique_key = \(uniqueKey) AND state = 'pending'")
    }

    /// The payload of the job with `uniqueKey` while it is pending or running, if there is one.
    func unfinishedPayload(uniqueKey: String, on db: any SQLExecutor) async throws -> String? {
        try await db.queryFirst("""
            SELECT payload FROM jobs WHERE unique_key = \(uniqueKey) AND state IN ('pending', 'running')
            """)?.decode("payload")
    }

    /// Whether any job is due; a cheap read, so that idle workers do not take the SQLite
    /// writer every time they look.
    func anyDue(at now: Date, on db: any SQLExecutor) async throws -> Bool {
        try await db.queryFirst("SELECT id FROM jobs WHERE state = 'pending' AND run_at <= \(now) LIMIT 1") != nil
    }

    /// Claims up to `limit` due jobs for `worker` until `leaseEnd`, counting an attempt each.
    /// A job waits while an earlier job of its ordering key is pending or running. PostgreSQL
    /// workers skip rows that others are claiming (`FOR UPDATE SKIP LOCKED`); on SQLite the
    /// single writer makes the statement atomic.
    func claim(limit: Int, worker: String, leaseEnd: Date, at now: Date, on db: any SQLExecutor) async throws -> [Job] {
        let lock: SQL = db.dialect == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        return try await db.query("""
            UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = \(worker), locked_until = \(leaseEnd),
                updated_at = \(now)
            WHERE id IN (
                SELECT id FROM jobs candidate
                WHERE state = 'pending' AND run_at <= \(now)
                  AND (ordering_key IS NULL OR NOT EXISTS (
                      SELECT 1 FROM jobs earlier
                      WHERE earlier.ordering_key = candidate.ordering_key AND earlier.state IN ('pending', 'running')
                        AND (earlier.ordering_seq < candidate.ordering_seq
                             OR (earlier.ordering_seq = candidate.ordering_seq AND earlier.id < candidate.id))))
                ORDER BY run_at, id LIMIT \(limit)\(lock))
              AND state = 'pending'
            RETURNING *
            """).map(Job.init(row:))
    }

    /// Extends the lease of a job this worker still holds; false when it no longer does.
    func extendLease(_ job: Job, worker: String, until leaseEnd: Date, at now: Date, on db: any SQLExecutor) async throws -> Bool {
        try await db.queryFirst("""
            UPDATE jobs SET locked_until = \(leaseEnd), updated_at = \(now)
            WHERE id = \(job.id) AND state = 'running' AND locked_by = \(worker) RETURNING id
            """) != nil
    }

    /// Marks a job done, if this worker still holds it; false when it no longer did.
    @discardableResult
    func complete(_ job: Job, worker: String, at now: Date, on db: any SQLExecutor) async throws -> Bool {
        try await db.queryFirst("""
            UPDATE jobs SET state = 'done', finished_at = \(now), updated_at = \(now), locked_by = NULL, locked_until = NULL,
                last_error = NULL
            WHERE id = \(job.id) AND state = 'running' AND locked_by = \(worker)
            RETURNING id
            """) != nil
    }

    /// Records a failed try: back to pending at `retryAt`, or dead when there is none.
    func fail(_ job: Job, worker: String, error: String, retryAt: Date?, at now: Date, on db: any SQLExecutor) async throws {
        let state = retryAt == nil ? Job.State.dead : .pending
        try await db.execute("""
            UPDATE jobs SET state = \(state.rawValue), run_at = \(retryAt ?? job.runAt), last_error = \(String(error.prefix(2000))),
                finished_at = \(retryAt == nil ? now : nil), updated_at = \(now), locked_by = NULL, locked_until = NULL
            WHERE id = \(job.id) AND state = 'running' AND locked_by = \(worker)
            """)
    }

    /// Puts a job back to wait until `date` without counting the try.
    func postpone(_ job: Job, worker: String, until date: Date, note: String, at now: Date, on db: any SQLExecutor) async throws {
        try await db.execute("""
            UPDATE jobs SET state = 'pending', run_at = \(date), attempts = attempts - 1, last_error = \(note), updated_at = \(now),
                locked_by = NULL, locked_until = NULL
            WHERE id = \(job.id) AND state = 'running' AND locked_by = \(worker)
            """)
    }

    /// Jobs whose worker vanished (lease over) go back to pending, or dead when they have
    /// used every attempt. Returns how many.
    @discardableResult
    func releaseExpiredLeases(at now: Date, on db: any SQLExecutor) async throws -> Int {
        try await db.query("""
            UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END,
                last_error = 'the worker running it stopped before it finished (lease expired)',
                finished_at = CASE WHEN attempts >= max_attempts THEN \(now) ELSE NULL END,
                locked_by = NULL, locked_until = NULL, updated_at = \(now)
            WHERE state = 'running' AND locked_until < \(now)
            RETURNING id
            """).count
    }

    /// Releases every job a worker of this process held (its previous life, after a crash).
    func releaseJobs(lockedByPrefix prefix: String, at now: Date, on db: any SQLExecutor) async throws -> Int {
        try await db.query("""
            UPDATE jobs SET state = 'pending', last_error = 'the worker running it stopped before it finished (restart)',
                locked_by = NULL, locked_until = NULL, updated_at = \(now)
            WHERE state = 'running' AND substr(locked_by, 1, CAST(\(Int64(prefix.count + 1)) AS INTEGER)) = \(prefix + "/")
            RETURNING id
            """).count
    }

    func find(_ id: String, on db: any SQLExecutor) async throws -> Job? {
        try await db.queryFirst("SELECT * FROM jobs WHERE id = \(id)").map(Job.init(row:))
    }

    /// Newest first.
    func list(state: Job.State?, kind: String?, before: String?, limit: Int, on db: any SQLExecutor) async throws -> [Job] {
        var conditions: [SQL] = ["1 = 1"]
        if let state { conditions.append("state = \(state.rawValue)") }
        if let kind { conditions.append("kind = \(kind)") }
        if let before { conditions.append("id < \(before)") }
        return try await db.query("""
            SELECT * FROM jobs WHERE \(SQL.joined(conditions, separator: " AND ")) ORDER BY id DESC LIMIT \(limit + 1)
            """).map(Job.init(row:))
    }

    /// Runs a dead or waiting job again now, with a fresh set of attempts. False when the job
    /// is running or done.
    func retry(_ id: String, at now: Date, on db: any SQLExecutor) async throws -> Bool {
        try await db.queryFirst("""
            UPDATE jobs SET state = 'pending', run_at = \(now), attempts = 0, finished_at = NULL, updated_at = \(now)
            WHERE id = \(id) AND state IN ('dead', 'pending') RETURNING id
            """) != nil
    }

    /// Deletes done jobs finished before `cutoff`, a batch at a time; returns how many.
    func purgeDone(before cutoff: Date, batch: Int, on db: any SQLExecutor) async throws -> Int {
        try await db.query("""
            DELETE FROM jobs WHERE id IN (
                SELECT id FROM jobs WHERE state = 'done' AND finished_at < \(cutoff) LIMIT \(batch))
            RETURNING id
            """).count
    }

    /// Pending jobs per kind with the age of the oldest due one, for /metrics.
    func queueFigures(at now: Date, on db: any SQLExecutor) async throws -> [(kind: String, depth: Int64, oldestDue: Date?)] {
        try await db.query("""
            SELECT kind, CAST(COUNT(*) AS BIGINT) AS depth, MIN(CASE WHEN run_at <= \(now) THEN run_at END) AS oldest
            FROM jobs WHERE state = 'pending' GROUP BY kind
            """).map { row in (try row.decode("kind"), try row.decode("depth"), try row.decode("oldest")) }
    }

    /// Dead jobs per kind, for /metrics (an operator should look at each).
    func deadCounts(on db: any SQLExecutor) async throws -> [(kind: String, count: Int64)] {
        try await db.query("SELECT kind, CAST(COUNT(*) AS BIGINT) AS n FROM jobs WHERE state = 'dead' GROUP BY kind")
            .map { row in (try row.decode("kind"), try row.decode("n")) }
    }
}
