import Crypto
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `Idempotency-Key` handling (DESIGN §4): the same key with the same body answers the stored
/// response again; with another body 422; while the first request still runs 409. Keys are
/// scoped to the caller and kept 24 hours.
///
/// The key is claimed in its own short transaction; the operation's changes and the stored
/// response then commit together, so a crash leaves either nothing done or the change with its
/// answer. Operations that commit in steps (checkout, refunds) link what they made to the key
/// (`orders.checkout_key`, `refunds.request_key`), so a retry after a crash resumes the first
/// attempt's order or refund instead of starting another.
///
/// A claim records the node that holds it: a restarted node frees its own unanswered claims at
/// once (`releaseClaims`), and any node takes over a claim older than `staleClaim`.
struct Idempotency: Sendable {
    static let header = HTTPField.Name("Idempotency-Key")!
    static let lifetime: TimeInterval = 24 * 3600
    /// A claim without an answer this old belongs to a request that died: longer than any
    /// request may run (provider calls time out well before).
    static let staleClaim: TimeInterval = 90

    let database: any Database
    let clock: any WallClock
    /// This node, as recorded on its claims.
    let owner: String

    struct Stored: Sendable {
        let status: HTTPResponse.Status
        /// What is kept for a repeated request.
        let body: ByteBuffer
        /// The answer when it is a problem: thrown, not sent, so that `ProblemMiddleware`
        /// sends it like every other problem, with this request's id.
        var problem: Problem?
        /// What this request is sent when it shows more than is kept (a secret shown once).
        var shown: ByteBuffer?
        /// False for an answer that may change (a payment or refund the provider has not
        /// confirmed yet): it is sent but not stored, and the key is freed, so the retry asks
        /// again and resumes the same order or refund.
        var isFinal = true

        init(status: HTTPResponse.Status, body: ByteBuffer) {
            self.status = status
            self.body = body
            if status.code >= 400 { problem = Problem(stored: Data(body.readableBytesView)) }
        }

        /// An answer that is a JSON document.
        init(status: HTTPResponse.Status, json value: some Encodable) throws {
            self.init(status: status, body: ByteBuffer(bytes: try Self.encoder.encode(value)))
        }

        /// An answer whose first sending shows one member more than repeats get (a secret
        /// shown once): `kept` (a JSON object) is encoded once and the member is put in front
        /// of its own members, rather than encoding the whole answer a second time. Keys are
        /// sorted, so `name` should sort before the answer's own (`access_token` does).
        init(status: HTTPResponse.Status, kept: some Encodable, showing name: String, _ value: String) throws {
            let body = try Self.encoder.encode(kept)
            self.init(status: status, body: ByteBuffer(bytes: body))
            var shown = Array(try Self.encoder.encode([name: value]))
            guard shown.last == UInt8(ascii: "}"), body.first == UInt8(ascii: "{") else {
                throw EncodingError.invalidValue(kept, .init(codingPath: [], debugDescription: "not a JSON object"))
            }
            shown.removeLast()
            if body.count > 2 { shown.append(UInt8(ascii: ",")) }
            shown.append(contentsOf: body.dropFirst())
            self.shown = ByteBuffer(bytes: shown)
        }

        /// An answer that is a problem (a declined payment): stored and replayed like a success.
        init(problem: Problem) {
            self.status = problem.status
            self.body = ByteBuffer(bytes: problem.stored)
            self.problem = problem
        }

        /// The same answer, not to be stored.
        var provisional: Stored {
            var copy = self
            copy.isFinal = false
            return copy
        }

        private static let encoder: JSONEncoder = {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return encoder
        }()
    }

    /// The key the request carries, if any, checked for shape.
    static func key(of request: Request) throws -> String? {
        guard let key = request.headers[header] else { return nil }
        guard (1...255).contains(key.count), key.unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value <= 0x7e }) else {
            throw Problem.validation([.init(parameter: "Idempotency-Key", detail: "must be 1 to 255 visible ASCII characters")])
        }
        return key
    }

    static func fingerprint(method: HTTPRequest.Method, path: String, body: Data) -> String {
        var hasher = SHA256()
        hasher.update(data: Data("\(method.rawValue) \(path)\n".utf8))
        hasher.update(data: body)
        return Hex.string(hasher.finalize())
    }

    /// Runs `operation` once per (caller, key); its changes and its answer commit together.
    /// Without a key it simply runs.
    func perform(
        caller: String, key: String?, fingerprint: String,
        _ operation: @Sendable @escaping (any SQLExecutor) async throws -> Stored
    ) async throws -> Stored {
        guard let key else { return try await database.transaction { db in try await operation(db) } }
        if let stored = try await claim(caller: caller, key: key, fingerprint: fingerprint) { return stored }
        do {
            return try await database.transaction { db in
                let stored = try await operation(db)
                try await db.execute("""
                    UPDATE idempotency_keys SET status = \(Int64(stored.status.code)), response = \(String(buffer: stored.body))
                    WHERE caller = \(caller) AND key = \(key)
                    """)
                return stored
            }
        } catch {
            // Nothing was done: free the key so that the client may retry with it.
            try? await release(caller: caller, key: key)
            throw error
        }
    }

    /// Runs `operation` once per (caller, key) where the operation commits its own steps (a
    /// checkout commits its order before it calls the payment provider). A final answer is
    /// stored when it returns. When it throws or answers provisionally the key is freed: the
    /// operation must then be resumable, finding what an earlier attempt committed through the
    /// key (`requestKey(caller:key:)`) rather than doing it again.
    func performInSteps(
        caller: String, key: String, fingerprint: String, _ operation: @Sendable @escaping () async throws -> Stored
    ) async throws -> Stored {
        if let stored = try await claim(caller: caller, key: key, fingerprint: fingerprint) { return stored }
        let stored: Stored
        do {
            stored = try await operation()
        } catch {
            try await release(caller: caller, key: key)
            throw error
        }
        guard stored.isFinal else {
            try await release(caller: caller, key: key)
            return stored
        }
        try await database.execute("""
            UPDATE idempotency_keys SET status = \(Int64(stored.status.code)), response = \(String(buffer: stored.body))
            WHERE caller = \(caller) AND key = \(key)
            """)
        return stored
    }

    /// What steps of an operation record to be found again by a retry with the same key.
    static func requestKey(caller: String, key: String) -> String { "\(caller)|\(key)" }

    private func release(caller: String, key: String) async throws {
        try await database.execute("""
            DELETE FROM idempotency_keys WHERE caller = \(caller) AND key = \(key) AND status IS NULL AND owner = \(owner)
            """)
    }

    /// Frees every unanswered claim this node held: at start-up, the claims of requests that
    /// died with the previous process. Returns how many.
    func releaseClaims() async throws -> Int {
        try await database.query("""
            DELETE FROM idempotency_keys WHERE status IS NULL AND owner = \(owner) RETURNING key
            """).count
    }

    /// Claims the key, or answers what an earlier request with it stored.
    private func claim(caller: String, key: String, fingerprint: String) async throws -> Stored? {
        let now = clock.now()
        for _ in 0..<2 {
            let inserted = try await database.queryFirst("""
                INSERT INTO idempotency_keys (caller, key, request_hash, created_at, expires_at, owner)
                VALUES (\(caller), \(key), \(fingerprint), \(now), \(now.addingTimeInterval(Self.lifetime)), \(owner))
                ON CONFLICT (caller, key) DO NOTHING RETURNING key
                """)
            if inserted != nil { return nil }
            guard let row = try await database.queryFirst("""
                SELECT request_hash, status, response, created_at, expires_at FROM idempotency_keys
                WHERE caller = \(caller) AND key = \(key)
                """)
            else { continue }
            let expiresAt: Date = try row.decode("expires_at")
            let createdAt: Date = try row.decode("created_at")
            let status: Int64? = try row.decode("status")
            if expiresAt <= now || (status == nil && now.timeIntervalSince(createdAt) > Self.staleClaim) {
                try await database.execute("""
                    DELETE FROM idempotency_keys WHERE caller = \(caller) AND key = \(key) AND created_at = \(createdAt)
                    """)
                continue
            }
            guard try row.decode("request_hash", as: String.self) == fingerprint else {
                throw Problem(
                    .unprocessableContent, slug: "idempotency-key-reused", title: "Idempotency key reused",
                    detail: "This Idempotency-Key was used with a different request; use a new key for a new request.")
            }
            guard let status else { throw Self.keyInUse }
            let body: String = try row.decode("response")
            return Stored(status: HTTPResponse.Status(code: Int(status)), body: ByteBuffer(string: body))
        }
        throw Self.keyInUse
    }

    /// Deletes keys past their lifetime, a batch at a time; returns how many.
    func purgeExpired(batch: Int) async throws -> Int {
        try await database.query("""
            DELETE FROM idempotency_keys WHERE (caller, key) IN (
                SELECT caller, key FROM idempotency_keys WHERE expires_at < \(clock.now()) LIMIT \(batch))
            RETURNING key
            """).count
    }

    static let keyInUse = Problem(
        .conflict, slug: "idempotency-key-in-use", title: "Request in progress",
        detail: "A request with this Idempotency-Key is still being processed; retry shortly.")
}

extension Idempotency.Stored: ResponseGenerator {
    func response(from request: Request, context: some RequestContext) throws -> Response {
        if let problem { throw problem }
        let body = shown ?? body
        var headers: HTTPFields = [.contentType: status.code >= 400 ? "application/problem+json" : "application/json"]
        headers[.contentLength] = String(body.readableBytes)
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }
}
