import EmporiumStorage
import Foundation
import Logging
import Synchronization

/// Where reads that may be served by a replica go (`--database-read-url`): the storefront
/// catalog and the sales report. Everything else, and every read that must see its own writes
/// or decides whether stock is there (carts, checkout, accounts, the catalog change log), uses
/// the primary.
///
/// A storefront answer is cached until the change log says something it shows changed. A page
/// rebuilt from a replica that has not yet replayed the change that emptied the cache would be
/// cached stale, possibly for good. So a catalog read goes to the replica only when the replica
/// has replayed at least the primary's WAL insert position taken when the read began: every
/// change the cache has applied was committed before that, so the replica's answer shows it.
/// (The insert position, not the written one: with `synchronous_commit = off` a commit is
/// visible before its WAL is written.) The cache asks for a read only on a miss, so that is one
/// `pg_current_wal_insert_lsn()` on the primary per miss; when the replica is behind it gets
/// `catchUpWait` to get there, and then the read goes to the primary.
public final class ReadRouting: Sendable {
    let primary: any Database
    /// nil without `--database-read-url`: everything reads from the primary.
    let replica: (any Database)?
    /// How long a read waits for a lagging replica before it goes to the primary.
    let catchUpWait: Duration
    /// The highest replay position seen on the replica (it only grows); `.max` for a copy that
    /// is not a standby (nothing to wait for).
    private let replayed = Mutex<UInt64>(0)
    private let counts = Mutex<(replica: Int, primary: Int)>((0, 0))

    init(primary: any Database, replica: (any Database)?, catchUpWait: Duration = .milliseconds(20)) {
        self.primary = primary
        self.replica = replica
        self.catchUpWait = catchUpWait
    }

    /// Reports: read from the replica whenever there is one (they show what was committed up
    /// to a moment ago and are never cached).
    var reports: any Database { replica ?? primary }

    /// Catalog reads made from the replica and from the primary so far.
    var readCounts: (replica: Int, primary: Int) { counts.withLock { $0 } }

    /// The database a storefront catalog read that begins now may use.
    func catalog() async -> any Database {
        guard let replica else { return primary }
        var fromReplica = false
        do {
            if let fence = try await Self.position(primary, replica: false) {
                fromReplica = try await caughtUp(replica, to: fence)
            }
        } catch {
            // Either side unreachable: the primary answers, or fails as any request would.
            fromReplica = false
        }
        counts.withLock { fromReplica ? ($0.replica += 1) : ($0.primary += 1) }
        return fromReplica ? replica : primary
    }

    private func caughtUp(_ replica: any Database, to fence: UInt64) async throws -> Bool {
        if replayed.withLock({ $0 }) >= fence { return true }
        let deadline = ContinuousClock.now + catchUpWait
        while true {
            // NULL when the read URL is not a standby (a copy kept some other way).
            let position = try await Self.position(replica, replica: true) ?? .max
            let known = replayed.withLock { value in
                value = max(value, position)
                return value
            }
            if known >= fence { return true }
            if ContinuousClock.now >= deadline { return false }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// The primary's current WAL position, or how far a standby has replayed (nil when it is
    /// not one).
    private static func position(_ database: any Database, replica: Bool) async throws -> UInt64? {
        let sql: SQL = replica
            ? "SELECT pg_last_wal_replay_lsn()::text AS lsn" : "SELECT pg_current_wal_insert_lsn()::text AS lsn"
        guard let text = try await database.queryFirst(sql)?.decode("lsn", as: String?.self) else { return nil }
        return parseLSN(text)
    }

    /// `16/B374D848`: two hexadecimal halves of a 64-bit WAL position.
    public static func parseLSN(_ text: String) -> UInt64? {
        let halves = text.split(separator: "/")
        guard halves.count == 2, let high = UInt64(halves[0], radix: 16), let low = UInt64(halves[1], radix: 16) else {
            return nil
        }
        return high << 32 | low
    }
}
