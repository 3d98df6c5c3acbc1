import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes

/// "Forgot your password": a single-use token by e-mail, valid for 30 minutes, stored only as
/// a digest. Using it sets the new password and signs the user out everywhere.
struct PasswordReset: Sendable {
    static let lifetime: TimeInterval = 30 * 60
    /// Reset requests per client address and hour.
    static let requestPolicy = LoginThrottle.Policy(threshold: 10)

    let database: any Database
    let accounts: AccountStore
    let hasher: PasswordHasher
    let mailer: any Mailer
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
        try await database.transaction { db in
            try await db.execute("""
                INSERT INTO password_resets (id, user_id, token_hash, expires_at, created_at)
                VALUES (\(ids.makeUUID().uuidString.lowercased()), \(user.id), \(SecretToken.digest(token)),
                        \(now.addingTimeInterval(Self.lifetime)), \(now))
                """)
            try await audit.record(
                .init(actor: user.id, action: "password.reset_requested", target: user.id.description,
                      clientAddress: origin.clientAddress, requestID: origin.requestID), on: db)
        }
        try await mailer.send(MailMessage(
            to: user.email, subject: "Reset your password",
            body: """
                Hello \(user.name),

                someone asked to reset the password of your account. If it was you, open this link within 30 minutes:

                \(resetURL)?token=\(token)

                If it was not you, ignore this message; your password stays as it is.
                """))
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
            try await db.execute("UPDATE users SET password_hash = \(hash), updated_at = \(now) WHERE id = \(userID)")
            try await db.execute("UPDATE refresh_tokens SET revoked_at = \(now) WHERE user_id = \(userID) AND revoked_at IS NULL")
            try await audit.record(
                .init(actor: userID, action: "password.reset", target: userID.description,
                      clientAddress: origin.clientAddress, requestID: origin.requestID), on: db)
        }
    }
}
