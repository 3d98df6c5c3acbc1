import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes

/// Where a request came from, for the audit log.
struct RequestOrigin: Sendable {
    let clientAddress: String
    let requestID: String
}

/// Sign-up, sign-in, token refresh and sign-out.
struct AccountService: Sendable {
    static let refreshLifetime: TimeInterval = 30 * 24 * 3600
    /// Sign-ups per client address and hour.
    static let registrationPolicy = LoginThrottle.Policy(threshold: 20)

    struct Session: Sendable {
        let user: User
        let accessToken: String
        let refreshToken: String
    }

    let database: any Database
    let accounts: AccountStore
    let refreshTokens: RefreshTokenStore
    let accessTokens: AccessTokens
    let hasher: PasswordHasher
    let audit: AuditLog
    let outbox: Outbox
    let throttle: LoginThrottle
    let twoFactor: TwoFactor
    let clock: any WallClock
    let ids: any IDGenerator

    func register(email rawEmail: String, password: String, name rawName: String, origin: RequestOrigin) async throws -> Session {
        let email = AccountRules.normalizedEmail(rawEmail)
        let name = rawName.trimmingCharacters(in: .whitespacesAndNewlines)
        let errors = AccountRules.problems(email: email, password: password, name: name)
        guard errors.isEmpty else { throw Problem.validation(errors) }
        let registrationKey = "register:" + origin.clientAddress
        if let seconds = try await throttle.lockedFor(registrationKey, on: database) {
            throw Problem.rateLimited(retryAfterSeconds: seconds)
        }
        try await throttle.recordFailure(registrationKey, policy: Self.registrationPolicy, on: database)

        let passwordHash = try await hasher.hash(password)
        let now = clock.now()
        let user = User(id: ids.make(), email: email, name: name, role: .customer, createdAt: now, updatedAt: now)
        do {
            return try await database.transaction { db in
                try await accounts.insert(user, passwordHash: passwordHash, on: db)
                try await audit.record(
                    .init(actor: user.id, action: "user.registered", target: user.id.description,
                          clientAddress: origin.clientAddress, requestID: origin.requestID), on: db)
                try await outbox.record(
                    "customer.created", aggregate: "customer", id: user.id.description,
                    payload: ["customer_id": user.id.description, "email": user.email, "name": user.name], at: now, on: db)
                return try await startSession(for: user, family: ids.make(), on: db)
            }
        } catch DatabaseError.uniqueViolation {
            throw Problem.emailTaken
        }
    }

    func login(email rawEmail: String, password: String, totp: String?, origin: RequestOrigin) async throws -> Session {
        let user = try await verifySignIn(email: rawEmail, password: password, totp: totp, origin: origin)
        return try await database.transaction { db in
            try await startSession(for: user, family: ids.make(), on: db)
        }
    }

    /// The person these credentials sign in, checked as a sign-in is (throttled, with the
    /// one-time code when two-factor sign-in is on, audited either way) but starting no
    /// session: the consent page of third-party apps signs in this way.
    func verifySignIn(email rawEmail: String, password: String, totp: String?, origin: RequestOrigin) async throws -> User {
        let email = AccountRules.normalizedEmail(rawEmail)
        if let seconds = try await throttle.signInWait(email: email, address: origin.clientAddress, on: database) {
            throw Problem.tooManyAttempts(retryAfter: seconds)
        }
        let stored = try await accounts.find(email: email, on: database)
        // Unknown e-mails are checked against a decoy hash: both failures take as long.
        func refuse(_ problem: Problem, action: String) async throws -> Never {
            try await database.transaction { db in
                try await audit.record(
                    .init(actor: stored?.user.id, action: action, target: email,
                          clientAddress: origin.clientAddress, requestID: origin.requestID), on: db)
                for key in try await throttle.recordSignInFailure(email: email, address: origin.clientAddress, on: db) {
                    try await audit.record(
                        .init(actor: stored?.user.id, action: "login.locked_out", target: key,
                              clientAddress: origin.clientAddress, requestID: origin.requestID), on: db)
                }
            }
            throw problem
        }
        guard try await hasher.verify(password, against: stored?.passwordHash), let user = stored?.user else {
            try await refuse(.invalidCredentials, action: "login.failed")
        }
        let mfa = try await twoFactor.state(of: user.id, on: database)
        if mfa.enabled, let secret = mfa.secret {
            // Asking for the code is not a failure; a wrong code counts like a wrong password.
            guard let totp else { throw Problem.mfaRequired }
            guard try await twoFactor.consume(totp, secret: secret, for: user.id, on: database) else {
                try await refuse(.invalidMFACode, action: "login.mfa_failed")
            }
        }
        try await database.transaction { db in
            try await throttle.recordSignInSuccess(email: email, address: origin.clientAddress, on: db)
            try await audit.record(
                .init(actor: user.id, action: "login.succeeded", target: user.id.description,
                      clientAddress: origin.clientAddress, requestID: origin.requestID), on: db)
        }
        return user
    }

    /// Exchanges a current refresh token for a new pair. A token that was already used
    /// means it leaked: its whole family is revoked and the attempt audited.
    func refresh(_ token: String, origin: RequestOrigin) async throws -> Session {
        let digest = SecretToken.digest(token)
        let now = clock.now()
        enum Outcome: Sendable { case session(Session), refused }
        let outcome = try await database.transaction { db -> Outcome in
            switch try await refreshTokens.redeem(digest: digest, now: now, on: db) {
            case .valid(let rotated):
                guard let user = try await accounts.find(id: rotated.userID, on: db) else { return .refused }
                return .session(try await startSession(for: user, family: rotated.family, on: db))
            case .reused(let userID, let family):
                try await refreshTokens.revokeFamily(family, now: now, on: db)
                try await audit.record(
                    .init(actor: userID, action: "refresh_token.reused", target: family.description,
                          clientAddress: origin.clientAddress, requestID: origin.requestID), on: db)
                return .refused
            case .unknown:
                return .refused
            }
        }
        guard case .session(let session) = outcome else { throw Problem.invalidRefreshToken }
        return session
    }

    /// Revokes the token's family. Unknown tokens are accepted silently: signing out twice is
    /// not an error, and the answer must not tell whether a token exists.
    func logout(_ token: String, origin: RequestOrigin) async throws {
        let digest = SecretToken.digest(token)
        try await database.transaction { db in
            guard let (userID, family) = try await refreshTokens.family(ofDigest: digest, on: db) else { return }
            try await refreshTokens.revokeFamily(family, now: clock.now(), on: db)
            try await audit.record(
                .init(actor: userID, action: "logout", target: family.description,
                      clientAddress: origin.clientAddress, requestID: origin.requestID), on: db)
        }
    }

    /// Ends every session of the user at once: refresh tokens revoked, and access tokens refused
    /// from the next request on (their generation is behind the user's).
    func signOutEverywhere(_ user: User, origin: RequestOrigin) async throws {
        try await database.transaction { db in
            try await accounts.endAccessTokens(of: user.id, on: db)
            try await refreshTokens.revokeAll(of: user.id, now: clock.now(), on: db)
            try await audit.record(
                .init(actor: user.id, action: "logout.everywhere", target: user.id.description,
                      clientAddress: origin.clientAddress, requestID: origin.requestID), on: db)
        }
    }

    func beginTwoFactor(for user: User) async throws -> (secret: String, uri: String) {
        try await database.transaction { db in
            guard try await !twoFactor.state(of: user.id, on: db).enabled else {
                throw Problem(
                    .conflict, slug: "mfa-enabled", title: "Two-factor sign-in is on",
                    detail: "Disable it with a current code before setting up a new authenticator.")
            }
            return try await twoFactor.begin(for: user, on: db)
        }
    }

    func enableTwoFactor(for user: User, code: String, origin: RequestOrigin) async throws {
        try await throttleTwoFactorChange(of: user, origin: origin) { db in
            let state = try await twoFactor.state(of: user.id, on: db)
            guard let secret = state.secret, !state.enabled else {
                throw Problem(
                    .conflict, slug: "mfa-not-pending", title: "Nothing to enable",
                    detail: "Call /v1/me/mfa/setup first (or two-factor sign-in is already on).")
            }
            guard try await twoFactor.consume(code, secret: secret, for: user.id, on: db) else { return false }
            try await twoFactor.enable(user.id, on: db)
            try await audit.record(
                .init(actor: user.id, action: "mfa.enabled", target: user.id.description,
                      clientAddress: origin.clientAddress, requestID: origin.requestID), on: db)
            return true
        }
    }

    func disableTwoFactor(for user: User, code: String, origin: RequestOrigin) async throws {
        try await throttleTwoFactorChange(of: user, origin: origin) { db in
            let state = try await twoFactor.state(of: user.id, on: db)
            guard let secret = state.secret, state.enabled else {
                throw Problem(.conflict, slug: "mfa-not-enabled", title: "Two-factor sign-in is off", detail: "There is nothing to disable.")
            }
            guard try await twoFactor.consume(code, secret: secret, for: user.id, on: db) else { return false }
            try await twoFactor.disable(user.id, on: db)
            try await audit.record(
                .init(actor: user.id, action: "mfa.disabled", target: user.id.description,
                      clientAddress: origin.clientAddress, requestID: origin.requestID), on: db)
            return true
        }
    }

    /// Runs a change of two-factor settings that `change` confirms with a code (returning false
    /// for a wrong one), behind a per-user throttle like sign-in's: a stolen access token must not
    /// buy unlimited guesses at the code. A wrong code is counted in a transaction of its own,
    /// since the change's transaction is not committed.
    private func throttleTwoFactorChange(
        of user: User, origin: RequestOrigin, _ change: (any SQLExecutor) async throws -> Bool
    ) async throws {
        let key = "mfa-change:\(user.id)"
        if let seconds = try await throttle.lockedFor(key, on: database) { throw Problem.tooManyAttempts(retryAfter: seconds) }
        guard try await database.transaction(change) else {
            try await database.transaction { db in
                if try await throttle.recordFailure(key, policy: .twoFactorChange, on: db) {
                    try await audit.record(
                        .init(actor: user.id, action: "mfa.locked_out", target: user.id.description,
                              clientAddress: origin.clientAddress, requestID: origin.requestID), on: db)
                }
            }
            throw Problem.invalidMFACode
        }
        try await throttle.clear(key, on: database)
    }

    func rename(_ user: User, to rawName: String) async throws -> User {
        let name = rawName.trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = AccountRules.nameProblem(name) { throw Problem.validation([.init(pointer: "/name", detail: problem)]) }
        guard let updated = try await accounts.updateName(name, of: user.id, at: clock.now(), on: database) else {
            throw Problem.unauthenticated
        }
        return updated
    }

    private func startSession(for user: User, family: ID<RefreshTokenFamily>, on db: any SQLExecutor) async throws -> Session {
        let token = SecretToken.make()
        let now = clock.now()
        try await refreshTokens.insert(
            id: ids.makeUUID(), digest: SecretToken.digest(token), userID: user.id, family: family,
            expiresAt: now.addingTimeInterval(Self.refreshLifetime), now: now, on: db)
        return Session(user: user, accessToken: try await accessTokens.issue(for: user), refreshToken: token)
    }
}

/// The rules for account fields, in one place.
enum AccountRules {
    static func normalizedEmail(_ email: String) -> String {
        email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    static func emailProblem(_ email: String) -> String? {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
            !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
            !email.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 })
        else { return "must be an e-mail address" }
        return nil
    }

    static func passwordProblem(_ password: String) -> String? {
        (12...128).contains(password.count) ? nil : "must be 12 to 128 characters"
    }

    /// What is wrong with a new account's fields, pointing at each member of the body.
    static func problems(email: String, password: String, name: String) -> [Problem.FieldError] {
        var errors: [Problem.FieldError] = []
        if let problem = emailProblem(email) { errors.append(.init(pointer: "/email", detail: problem)) }
        if let problem = passwordProblem(password) { errors.append(.init(pointer: "/password", detail: problem)) }
        if let problem = nameProblem(name) { errors.append(.init(pointer: "/name", detail: problem)) }
        return errors
    }

    static func nameProblem(_ name: String) -> String? {
        guard (1...100).contains(name.count) else { return "must be 1 to 100 characters" }
        return name.unicodeScalars.contains(where: { $0.value < 0x20 }) ? "must not contain control characters" : nil
    }
}

extension Problem {
    static let invalidCredentials = Problem(
        .unauthorized, slug: "invalid-credentials", title: "Invalid credentials",
        detail: "The e-mail address or the password is wrong.", headers: [.wwwAuthenticate: "Bearer"])

    static let invalidRefreshToken = Problem(
        .unauthorized, slug: "invalid-token", title: "Invalid refresh token",
        detail: "The refresh token is unknown, expired, revoked or already used; sign in again.")

    static let emailTaken = Problem(
        .conflict, slug: "email-taken", title: "E-mail already registered",
        detail: "An account with this e-mail address exists; sign in instead.")

    static let unauthenticated = Problem(
        .unauthorized, slug: "unauthenticated", title: "Authentication required",
        detail: "Send a valid access token as `Authorization: Bearer <token>`.", headers: [.wwwAuthenticate: "Bearer"])

    static let forbidden = Problem(
        .forbidden, slug: "forbidden", title: "Forbidden", detail: "Your role does not allow this.")
}
