import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes

/// Slows down guessing of passwords and codes, in the database so that every node sees the
/// same counts.
///
/// Failures are counted per key within a window of an hour; from a policy's threshold on, the key
/// is locked for the policy's first delay, doubling with each further failure up to its longest.
///
/// Sign-in uses three counts, so that an attacker cannot aim a lock-out at a victim:
/// - the (account, address) pair locks hard after 5 failures: the guesser at that address stops;
/// - the account alone slows down (1 s, doubling, at most 5 min) after 10 failures from anywhere,
///   which bounds a guesser who rotates addresses;
/// - an address that fails on 20 different accounts slows down the same way (credential stuffing;
///   counting accounts, not failures, spares an office or a carrier's NAT with a few typos).
/// The last two do not apply to an address the account signed in from successfully in the last
/// 30 days: the victim's usual device keeps working while the attack goes on.
struct LoginThrottle: Sendable {
    struct Policy: Sendable {
        let threshold: Int
        var firstDelay: TimeInterval = 30
        var longestDelay: TimeInterval = 3600

        static let pair = Policy(threshold: 5)
        static let account = Policy(threshold: 10, firstDelay: 1, longestDelay: 300)
        static let stuffing = Policy(threshold: 20, firstDelay: 1, longestDelay: 300)
        /// Wrong codes when turning two-factor sign-in on or off, per user.
        static let twoFactorChange = Policy(threshold: 5)
    }

    static let window: TimeInterval = 3600
    static let trustPeriod: TimeInterval = 30 * 24 * 3600

    let clock: any WallClock

    /// Seconds until `key` may try again, or nil when it may now.
    func lockedFor(_ key: String, on db: any SQLExecutor) async throws -> Int? {
        let now = clock.now()
        guard let row = try await db.queryFirst("SELECT locked_until FROM login_throttles WHERE key = \(key)"),
            let until = try row.decode("locked_until", as: Date?.self)
        else { return nil }
        return Self.seconds(until: until, now: now)
    }

    private static func seconds(until: Date, now: Date) -> Int? {
        until > now ? max(1, Int(until.timeIntervalSince(now).rounded(.up))) : nil
    }

    /// Counts a failure; returns true when this failure started (or extended) a lock-out.
    @discardableResult
    func recordFailure(_ key: String, policy: Policy, on db: any SQLExecutor) async throws -> Bool {
        try await count(key, policy: policy, on: db).locked
    }

    private func count(_ key: String, policy: Policy, on db: any SQLExecutor) async throws -> (failures: Int, locked: Bool) {
        let now = clock.now()
        let windowStart = now.addingTimeInterval(-Self.window)
        let row = try await db.queryFirst("""
            INSERT INTO login_throttles (key, failures, locked_until, updated_at) VALUES (\(key), 1, NULL, \(now))
            ON CONFLICT (key) DO UPDATE SET
                failures = CASE WHEN login_throttles.updated_at < \(windowStart) THEN 1 ELSE login_throttles.failures + 1 END,
                updated_at = \(now)
            RETURNING failures
            """)
        let failures = try row?.decode("failures", as: Int.self) ?? 1
        guard failures >= policy.threshold else { return (failures, false) }
        let doublings = Double(min(failures - policy.threshold, 20))
        let lockout = min(policy.firstDelay * pow(2, doublings), policy.longestDelay)
        try await db.execute("UPDATE login_throttles SET locked_until = \(now.addingTimeInterval(lockout)) WHERE key = \(key)")
        return (failures, true)
    }

    func clear(_ key: String, on db: any SQLExecutor) async throws {
        try await db.execute("DELETE FROM login_throttles WHERE key = \(key)")
    }

    /// Seconds before this address may try to sign in to this account, or nil when it may now.
    func signInWait(email: String, address: String, on db: any SQLExecutor) async throws -> Int? {
        let keys = SignInKeys(email: email, address: address)
        let now = clock.now()
        var rows: [String: (lockedUntil: Date?, updatedAt: Date)] = [:]
        for row in try await db.query("""
            SELECT key, locked_until, updated_at FROM login_throttles
            WHERE key = \(keys.pair) OR key = \(keys.account) OR key = \(keys.address) OR key = \(keys.trusted)
            """)
        {
            rows[try row.decode("key")] = (try row.decode("locked_until"), try row.decode("updated_at"))
        }
        let trusted = rows[keys.trusted].map { $0.updatedAt > now.addingTimeInterval(-Self.trustPeriod) } ?? false
        let applying = trusted ? [keys.pair] : [keys.pair, keys.account, keys.address]
        return applying.compactMap { key in rows[key]?.lockedUntil.flatMap { Self.seconds(until: $0, now: now) } }.max()
    }

    /// Counts a failed sign-in (wrong password or code); returns the keys this failure locked.
    func recordSignInFailure(email: String, address: String, on db: any SQLExecutor) async throws -> [String] {
        let keys = SignInKeys(email: email, address: address)
        var locked: [String] = []
        let pair = try await count(keys.pair, policy: .pair, on: db)
        if pair.locked { locked.append(keys.pair) }
        if try await count(keys.account, policy: .account, on: db).locked { locked.append(keys.account) }
        // The address's count goes up once per account it fails on within the window.
        if pair.failures == 1, try await count(keys.address, policy: .stuffing, on: db).locked { locked.append(keys.address) }
        return locked
    }

    /// A successful sign-in: the pair starts afresh and the address becomes one the account is
    /// known to use. The account's own count stays, so an attack in progress stays slowed.
    func recordSignInSuccess(email: String, address: String, on db: any SQLExecutor) async throws {
        let keys = SignInKeys(email: email, address: address)
        let now = clock.now()
        try await clear(keys.pair, on: db)
        try await db.execute("""
            INSERT INTO login_throttles (key, failures, locked_until, updated_at) VALUES (\(keys.trusted), 0, NULL, \(now))
            ON CONFLICT (key) DO UPDATE SET updated_at = \(now)
            """)
    }

    struct SignInKeys {
        let pair: String
        let account: String
        let address: String
        let trusted: String

        init(email: String, address: String) {
            pair = "pair:\(email) \(address)"
            account = "account:" + email
            self.address = "address:" + address
            trusted = "trusted:\(email) \(address)"
        }
    }
}

extension Problem {
    static func tooManyAttempts(retryAfter seconds: Int) -> Problem {
        Problem(
            .tooManyRequests, slug: "too-many-attempts", title: "Too many failed attempts",
            detail: "Sign-in is paused after repeated failures; try again in \(seconds) s.",
            headers: [.retryAfter: String(seconds)])
    }
}
