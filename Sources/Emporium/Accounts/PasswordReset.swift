import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes

/// "Forgot your password": a single-use token by e-mail, valid for 30 minutes, stored only as
/// a digest. Using it sets the new password and signs the user out everywhere.
///
/// The message is sent by a job queued in the transaction that records the reset; the job
/// carries the token sealed with the field cipher, so the queue never holds it in clear.
struct PasswordReset: Sendable {
    static let mailKind = "mail.password_reset"

    static let lifetime: TimeInterval = 30 * 60
    /// Reset requests per client address and hour.
    static let requestPolicy = LoginThrottle.Policy(threshold: 10)

    let database: any Database
    let accounts: AccountStore
    let refreshTokens: RefreshTokenStore
    let hasher: PasswordHasher
    let jobs: JobStore
    let cipher: FieldCipher
    let mail: MailSender
    let audit: AuditLog
    let throttle: LoginThrottle
    let clock: any WallClock
    let ids: any IDGenerator
    let resetURL: String

    /// Always succeeds from the caller's view, whether or not the address has an account.
    func request(email rawEmail: String, origin: RequestOrigin) async throws {
        let key = "reset:" + origin.clientAddress
        if let seconds = try await throttle.lockedFor(key, on: database) { throw Problem.rateLimited(retryAfterSeconds: seconds) }
        try await throttle.recordFailure(key, policy: Self.requestPolicy, on: database)
        let email = AccountRules.normalizedEmail(rawEmail)
        guard AccountRules.emailProblem(email) == nil, let user = try await accounts.find(email: email, on: database)?.user else {
            return
        }
        let token = SecretToken.make()
        let now = clock.now()
        let resetID = ids.makeUUID().lowercasedString
        try await database.transaction { db in
            try await db.execute("""
                INSERT INTO password_resets (id, user_id, token_hash, expires_at, created_at)
                VALUES (\(resetID), \(user.id), \(SecretToken.digest(token)), \(now.addingTimeInterval(Self.lifetime)), \(now))
                """)
            try await audit.record(
                .init(actor: user.id, action: "password.reset_requested", target: user.id.description,
                      clientAddress: origin.clientAddress, requestID: origin.requestID), on: db)
            let payload = MailJob(resetID: resetID, userID: user.id.description, token: try cipher.seal(token, context: Self.context(resetID)))
            try await jobs.enqueue(
                try JobRequest(kind: Self.mailKind, payload: payload, uniqueKey: "\(Self.mailKind):\(resetID)"),
                maxAttempts: 6, at: now, on: db)
        }
    }

    struct MailJob: Codable, Sendable {
        let resetID: String
        let userID: String
        let token: String

        enum CodingKeys: String, CodingKey {
            case token
            case resetID = "reset_id"
            case userID = "user_id"
        }
    }

    private static func context(_ resetID: String) -> String { "password_resets.mail:\(resetID)" }

    /// Sends the reset message; a link that has expired meanwhile is not sent.
    var jobKind: JobKind {
        JobKind(Self.mailKind, maxAttempts: 6, backoff: JobKind.exponential(base: 5, cap: 300)) { job in
            let payload = try job.decode(MailJob.self)
            guard let userID = ID<User>(payload.userID), let user = try await accounts.find(id: userID, on: database) else {
                throw JobFailure.permanent("the account no longer exists")
            }
            guard let row = try await database.queryFirst("""
                SELECT expires_at FROM password_resets WHERE id = \(payload.resetID) AND used_at IS NULL
                """), try row.decode("expires_at", as: Date.self) > clock.now()
            else { return }
            let token = try cipher.open(payload.token, context: Self.context(payload.resetID))
            try await mail.send(
                "password_reset", to: user.email, key: payload.resetID,
                values: ["name": user.name, "link": "\(resetURL)?token=\(token)"])
        }
    }

    func confirm(token: String, newPassword: String, origin: RequestOrigin) async throws {
        if let problem = AccountRules.passwordProblem(newPassword) {
            throw Problem.validation([.init(pointer: "/password", detail: problem)])
        }
        let hash = try await hasher.hash(newPassword)
        let now = clock.now()
        try await database.transaction { db in
            guard let row = try await db.queryFirst("""
                UPDATE password_resets SET used_at = \(now)
                WHERE token_hash = \(SecretToken.digest(token)) AND used_at IS NULL AND expires_at > \(now)
                RETURNING user_id
                """)
            else {
                throw Problem(
                    .badRequest, slug: "invalid-reset-token", title: "Invalid reset token",
                    detail: "The reset link is unknown, expired or already used; ask for a new one.")
            }
            let userID: ID<User> = try row.decode("user_id")
            try await accounts.setPassword(hash: hash, of: userID, at: now, on: db)
            try await refreshTokens.revokeAll(of: userID, now: now, on: db)
            try await audit.record(
                .init(actor: userID, action: "password.reset", target: userID.description,
                      clientAddress: origin.clientAddress, requestID: origin.requestID), on: db)
        }
    }
}
