import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdOTP

/// Time-based one-time passwords (RFC 6238, 6 digits, 30 s) as a second sign-in factor.
/// Secrets are stored sealed with the field cipher. A code is accepted one step either side
/// of now, and each step only once: the last step used is recorded with a conditional update,
/// so a code seen over someone's shoulder cannot be replayed, not even concurrently.
struct TwoFactor: Sendable {
    static let timeStep = 30
    static let issuer = "Emporium"

    let cipher: FieldCipher
    let clock: any WallClock

    struct State {
        let secret: String?
        let enabled: Bool
    }

    func state(of userID: ID<User>, on db: any SQLExecutor) async throws -> State {
        guard let row = try await db.queryFirst("SELECT mfa_secret, mfa_enabled FROM users WHERE id = \(userID)") else {
            return State(secret: nil, enabled: false)
        }
        let sealed = try row.decode("mfa_secret", as: String?.self)
        return State(
            secret: try sealed.map { try cipher.open($0, context: Self.context(userID)) },
            enabled: try row.decode("mfa_enabled"))
    }

    /// A new secret, stored as pending until a code proves the authenticator has it.
    func begin(for user: User, on db: any SQLExecutor) async throws -> (secret: String, uri: String) {
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
        var generator = SystemRandomNumberGenerator()
        let secret = String((0..<24).map { _ in alphabet.randomElement(using: &generator)! })
        try await db.execute("""
            UPDATE users SET mfa_secret = \(try cipher.seal(secret, context: Self.context(user.id))), mfa_enabled = \(false),
                mfa_last_step = NULL
            WHERE id = \(user.id)
            """)
        let uri = TOTP(secret: secret, timeStep: Self.timeStep).createAuthenticatorURL(label: user.email, issuer: Self.issuer)
        return (secret, uri)
    }

    func enable(_ userID: ID<User>, on db: any SQLExecutor) async throws {
        try await db.execute("UPDATE users SET mfa_enabled = \(true) WHERE id = \(userID)")
    }

    func disable(_ userID: ID<User>, on db: any SQLExecutor) async throws {
        try await db.execute("UPDATE users SET mfa_secret = NULL, mfa_enabled = \(false), mfa_last_step = NULL WHERE id = \(userID)")
    }

    /// Whether `code` is right for `secret` now and its time step was not used before; a
    /// right code consumes its step.
    func consume(_ code: String, secret: String, for userID: ID<User>, on db: any SQLExecutor) async throws -> Bool {
        guard code.count == 6, code.allSatisfy(\.isASCII), code.allSatisfy(\.isNumber), let value = Int(code) else {
            return false
        }
        let now = Int(clock.now().timeIntervalSince1970)
        let currentStep = now / Self.timeStep
        let totp = TOTP(secret: secret, timeStep: Self.timeStep)
        for step in [currentStep - 1, currentStep, currentStep + 1]
        where totp.compute(date: Date(timeIntervalSince1970: TimeInterval(step * Self.timeStep))) == value {
            let claimed = try await db.query("""
                UPDATE users SET mfa_last_step = \(step)
                WHERE id = \(userID) AND (mfa_last_step IS NULL OR mfa_last_step < \(step))
                RETURNING id
                """)
            return !claimed.isEmpty
        }
        return false
    }

    /// Re-seals, with the current key, secrets sealed with an older one; returns how many.
    func rotate(on db: any SQLExecutor) async throws -> Int {
        var changed = 0
        for row in try await db.query("SELECT id, mfa_secret FROM users WHERE mfa_secret IS NOT NULL") {
            let id: ID<User> = try row.decode("id")
            let sealed: String = try row.decode("mfa_secret")
            guard cipher.isStale(sealed) else { continue }
            let secret = try cipher.open(sealed, context: Self.context(id))
            try await db.execute("UPDATE users SET mfa_secret = \(try cipher.seal(secret, context: Self.context(id))) WHERE id = \(id)")
            changed += 1
        }
        return changed
    }

    private static func context(_ userID: ID<User>) -> String { "users.mfa_secret:\(userID)" }
}

extension Problem {
    static let mfaRequired = Problem(
        .unauthorized, slug: "mfa-required", title: "One-time code required",
        detail: "This account uses two-factor sign-in: send the current code from the authenticator as `totp`.")

    static let invalidMFACode = Problem(
        .unauthorized, slug: "invalid-mfa-code", title: "Wrong one-time code",
        detail: "The one-time code is wrong, expired or already used.")
}
