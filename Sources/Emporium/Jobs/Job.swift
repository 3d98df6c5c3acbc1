import EmporiumCore
import EmporiumStorage
import Foundation

/// A unit of background work, kept in the `jobs` table until it is done or dead.
///
/// States: `pending` (waiting for `run_at`), `running` (claimed by a worker until
/// `locked_until`), `done`, `dead` (failed `max_attempts` times, or refused for good; an
/// operator can retry it). A job whose worker died runs again once its lease has passed.
struct Job: Sendable {
    enum State: String, Sendable, CaseIterable {
        case pending, running, done, dead
    }

    let id: String
    let kind: String
    let payload: String
    let state: State
    let attempts: Int64
    let maxAttempts: Int64
    let runAt: Date
    let lastError: String?
    let uniqueKey: String?
    let orderingKey: String?
    let lockedBy: String?
    let lockedUntil: Date?
    let createdAt: Date
    let updatedAt: Date
    let finishedAt: Date?

    init(row: SQLRow) throws {
        id = try row.decode("id")
        kind = try row.decode("kind")
        payload = try row.decode("payload")
        guard let state = State(rawValue: try row.decode("state")) else { throw DatabaseError.decoding(column: "state", expected: "a job state", found: "something else") }
        self.state = state
        attempts = try row.decode("attempts")
        maxAttempts = try row.decode("max_attempts")
        runAt = try row.decode("run_at")
        lastError = try row.decode("last_error")
        uniqueKey = try row.decode("unique_key")
        orderingKey = try row.decode("ordering_key")
        lockedBy = try row.decode("locked_by")
        lockedUntil = try row.decode("locked_until")
        createdAt = try row.decode("created_at")
        updatedAt = try row.decode("updated_at")
        finishedAt = try row.decode("finished_at")
    }

    /// The payload decoded as `type`.
    func decode<Payload: Decodable>(_ type: Payload.Type) throws -> Payload {
        do {
            return try JSONDecoder().decode(type, from: Data(payload.utf8))
        } catch {
            throw JobFailure.permanent("the job's payload cannot be read: \(error)")
        }
    }
}

/// Work to queue.
struct JobRequest: Sendable {
    let kind: String
    let payload: String
    /// At most one job with this key exists while jobs are kept: queuing it again does nothing.
    var uniqueKey: String?
    /// Jobs with the same ordering key run one at a time, in `orderingSequence` order (an
    /// aggregate's events, delivered to one endpoint).
    var orderingKey: String?
    var orderingSequence: Int64 = 0
    /// Not before this time; `nil` is at once.
    var runAt: Date?
    var maxAttempts: Int64?

    init(
        kind: String, payload: some Encodable, uniqueKey: String? = nil, orderingKey: String? = nil,
        orderingSequence: Int64 = 0, runAt: Date? = nil, maxAttempts: Int64? = nil
    ) throws {
        self.kind = kind
        self.payload = String(decoding: try Self.encoder.encode(payload), as: UTF8.self)
        self.uniqueKey = uniqueKey
        self.orderingKey = orderingKey
        self.orderingSequence = orderingSequence
        self.runAt = runAt
        self.maxAttempts = maxAttempts
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}

/// How a handler says that a job did not succeed. Any other error is retried like `.retry`.
enum JobFailure: Error, CustomStringConvertible {
    /// Trying again cannot help (a 4xx from a webhook receiver, an unreadable payload): dead now.
    case permanent(String)
    /// Try again, after `after` seconds when the other side said so (Retry-After), else after
    /// the kind's backoff.
    case retry(String, after: TimeInterval? = nil)
    /// Not a failure: the work is not due yet (a payment still within its reservation). Run
    /// again at this time without counting an attempt.
    case notYet(until: Date, String)

    var description: String {
        switch self {
        case .permanent(let reason), .retry(let reason, _), .notYet(_, let reason): reason
        }
    }
}

/// A kind of job: its handler and how it is retried.
struct JobKind: Sendable {
    let name: String
    let maxAttempts: Int64
    /// Seconds before the next try after `attempt` failed tries (1 after the first failure).
    let backoff: @Sendable (Int64) -> TimeInterval
    let handle: @Sendable (Job) async throws -> Void
    /// What a job's success writes, in the transaction that marks it done rather than in a
    /// transaction of its own (a sent e-mail's bookkeeping): one write less per job.
    let finish: (@Sendable (Job, any SQLExecutor) async throws -> Void)?

    init(
        _ name: String, maxAttempts: Int64 = 20, backoff: @escaping @Sendable (Int64) -> TimeInterval = JobKind.exponential(),
        finish: (@Sendable (Job, any SQLExecutor) async throws -> Void)? = nil,
        handle: @escaping @Sendable (Job) async throws -> Void
    ) {
        self.name = name
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.finish = finish
        self.handle = handle
    }

    /// `base · 2^(attempt−1)` seconds, at most `cap`, spread by ±25 % so that jobs that failed
    /// together do not retry together.
    static func exponential(base: TimeInterval = 2, cap: TimeInterval = 3600) -> @Sendable (Int64) -> TimeInterval {
        { attempt in
            let raw = min(cap, base * pow(2, Double(max(0, min(attempt - 1, 30)))))
            return raw * Double.random(in: 0.75...1.25)
        }
    }

    /// A fixed schedule (seconds after each failure), the last step repeated, with ±10 % jitter.
    static func schedule(_ steps: [TimeInterval]) -> @Sendable (Int64) -> TimeInterval {
        { attempt in
            let step = steps[Int(min(max(attempt - 1, 0), Int64(steps.count - 1)))]
            return step * Double.random(in: 0.9...1.1)
        }
    }
}
