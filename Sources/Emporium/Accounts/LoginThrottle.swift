import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes

/// Slows down password guessing, per account and per client address, in the database so
/// that every node sees the same counts.
///
/// Failures are counted within a window of an hour. From `threshold` failures on, the key is
/// locked out for 30 s, doubling with each further failure up to an hour. A success clears
/// the account's count (not the address's: an attacker's own account must not reset it).
struct LoginThrottle: Sendable {
    struct Policy: Sendable {
        let threshold: Int
        static let account = Policy(threshold: 5)
        /// Higher: many people can share one address behind a NAT.
        static let address = Policy(threshold: 20)
    }

    static let window: TimeInterval = 3600
    static let firstLockout: TimeInterval = 30
    static let longestLockout: TimeInterval = 3600

    let clock: any WallClock

    /// Seconds until `key` may try again, or nil when it may now.
    func lockedFor(_ key: String, on db: any SQLExecutor) async throws -> Int? {
        let now = clock.now()
        guard let row = try await db.queryFirst("SELECT locked_until FROM login_throttles WHERE key = \(key)"),
            let until = try row.decode("locked_until", as: Date?.self), until > now
        else { return nil }
        return max(1, Int(until.timeIntervalSince(now).rounded(.up)))
    }

    /// Counts a failure; returns true when this failure started (or extended) a lock-out.
    @discardableResult
    func recordFailure(_ key: String, policy: Policy, on db: any SQLExecutor) async throws -> Bool {
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
        guard failures >= policy.threshold else { return false }
        let doublings = Double(min(failures - policy.threshold, 20))
        let lockout = min(Self.firstLockout * pow(2, doublings), Self.longestLockout)
        try await db.execute("UPDATE login_throttles SET locked_until = \(now.addingTimeInterval(lockout)) WHERE key = \(key)")
        return true
    }

    func clear(_ key: String, on db: any SQLExecutor) async throws {
        try await db.execute("DELETE FROM login_throttles WHERE key = \(key)")
    }

    static func accountKey(_ email: String) -> String { "account:" + email }
    static func addressKey(_ address: String) -> String { "address:" + address }
}

extension Problem {
    static func tooManyAttempts(retryAfter seconds: Int) -> Problem {
        Problem(
            .tooManyRequests, slug: "too-many-attempts", title: "Too many failed attempts",
            detail: "Sign-in is paused after repeated failures; try again in \(seconds) s.",
            headers: [.retryAfter: String(seconds)])
    }
}
