import EmporiumCore
import EmporiumStorage
import Foundation

/// Signing staff in and out of the back office. The password, the one-time code and the
/// lock-outs are the account service's (`AccountService.verifySignIn`, the same rules and
/// throttle as `POST /v1/auth/login`); this adds only what a browser session needs.
struct AdminSessions: Sendable {
    /// A session ends after this long without a request…
    static let idleTimeout: TimeInterval = 30 * 60
    /// …and this long after sign-in, whatever happens.
    static let absoluteTimeout: TimeInterval = 12 * 3600
    /// The idle clock is moved on at most this often, so that a page view is no write.
    static let touchInterval: TimeInterval = 60

    let database: any Database
    let store: AdminSessionStore
    let accounts: AccountService
    let accountStore: AccountStore
    let audit: AuditLog
    let clock: any WallClock
    let ids: any IDGenerator

    /// Why a sign-in did not start a session.
    enum Refusal: Error {
        /// The account service refused the credentials (its problem says why).
        case credentials(Problem)
        /// The person is not staff.
        case notStaff
    }

    /// Checks the credentials as the API's sign-in does and starts a session for staff;
    /// returns it with the cookie's token.
    func signIn(email: String, password: String, totp: String?, origin: RequestOrigin) async throws(Refusal) -> (AdminSession, String) {
        let user: User
        do {
            user = try await accounts.verifySignIn(email: email, password: password, totp: totp, origin: origin)
        } catch let problem as Problem {
            throw .credentials(problem)
        } catch {
            throw .credentials(.internalError)
        }
        do {
            guard user.role >= .staff else {
                try await audit.record(
                    .init(actor: .user(user.id), action: "admin.sign_in_refused", target: user.id.description, origin: origin),
                    on: database)
                throw Refusal.notStaff
            }
            let now = clock.now()
            let token = SecretToken.make()
            let session = AdminSession(
                id: ids.make(), userID: user.id, csrfToken: SecretToken.make(), tokenGeneration: user.tokenGeneration,
                createdAt: now, lastSeenAt: now, expiresAt: now.addingTimeInterval(Self.absoluteTimeout), flash: nil)
            try await database.transaction { db in
                try await store.deleteEnded(before: now, idleSince: now.addingTimeInterval(-Self.idleTimeout), on: db)
                try await store.insert(session, tokenDigest: SecretToken.digest(token), clientAddress: origin.clientAddress, on: db)
                try await audit.record(
                    .init(actor: .user(user.id), action: "admin.signed_in", target: session.id.description, origin: origin), on: db)
            }
            return (session, token)
        } catch let refusal as Refusal {
            throw refusal
        } catch {
            throw .credentials(.internalError)
        }
    }

    /// The live session the cookie's token opens, with its member as they are now: nil when
    /// the token is unknown, the session ended, the member is no longer staff, or their
    /// tokens were ended since (password reset, role change, signing out everywhere).
    func resolve(token: String) async throws -> (AdminSession, User)? {
        let now = clock.now()
        guard
            let session = try await store.find(
                tokenDigest: SecretToken.digest(token), now: now, idleSince: now.addingTimeInterval(-Self.idleTimeout),
                on: database)
        else { return nil }
        guard let user = try await accountStore.findRecent(id: session.userID, on: database),
            user.role >= .staff, user.tokenGeneration == session.tokenGeneration
        else {
            try await store.delete(session.id, on: database)
            return nil
        }
        if now.timeIntervalSince(session.lastSeenAt) >= Self.touchInterval {
            try await store.touch(session.id, at: now, on: database)
        }
        return (session, user)
    }

    func signOut(_ session: AdminSession, origin: RequestOrigin) async throws {
        try await database.transaction { db in
            try await store.delete(session.id, on: db)
            try await audit.record(
                .init(actor: .user(session.userID), action: "admin.signed_out", target: session.id.description, origin: origin),
                on: db)
        }
    }

    /// Ends every session of the member: the back office's here, and the API's tokens through
    /// the account service (as `POST /v1/auth/logout-everywhere`).
    func signOutEverywhere(_ user: User, origin: RequestOrigin) async throws {
        _ = try await store.deleteAll(of: user.id, on: database)
        try await accounts.signOutEverywhere(user, origin: origin)
    }

    func leave(_ flash: AdminFlash?, for session: AdminSession) async throws {
        try await store.setFlash(flash, of: session.id, on: database)
    }
}
