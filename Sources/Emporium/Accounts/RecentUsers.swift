import EmporiumCore
import Synchronization

/// Users as this node last read them to authenticate a request, kept for a second.
///
/// Reading the user behind an access token was the one database round trip of a small signed-in
/// request: on PostgreSQL it cost more than half of `GET /v1/me`. The authenticator reads
/// through this cache; every write to a user's row (`AccountStore`) forgets the row here, so on
/// this node a rename, a role change, a password reset or sign-out everywhere takes effect at
/// once. Other nodes learn of it when their copy ages out, within `lifetime`.
///
/// A write forgets the row before its transaction commits, so a request that reads the old
/// row between the write and the commit could put it back. To close that gap a forgotten
/// user is not remembered again for `quiet` (far longer than a transaction takes to commit);
/// requests in that time read the database.
final class RecentUsers: Sendable {
    private struct Entry {
        let user: User
        let readAt: ContinuousClock.Instant
    }

    private struct State {
        var entries: [ID<User>: Entry] = [:]
        /// Users forgotten lately, until when they are not remembered again.
        var quietUntil: [ID<User>: ContinuousClock.Instant] = [:]
    }

    private let lifetime: Duration
    private let quiet: Duration
    private let capacity: Int
    private let state = Mutex(State())

    init(lifetime: Duration = .seconds(1), quiet: Duration = .seconds(5), capacity: Int = 10_000) {
        self.lifetime = lifetime
        self.quiet = quiet
        self.capacity = capacity
    }

    /// The user as read less than `lifetime` ago, if this node read it.
    func user(_ id: ID<User>, now: ContinuousClock.Instant = .now) -> User? {
        state.withLock { state in
            guard let entry = state.entries[id] else { return nil }
            guard now - entry.readAt < lifetime else {
                state.entries[id] = nil
                return nil
            }
            return entry.user
        }
    }

    /// Keeps `user` as read by a query that began at `readAt`, unless the user was forgotten
    /// since shortly before: that read may have seen the row as it was before a write.
    func remember(_ user: User, readAt: ContinuousClock.Instant) {
        state.withLock { state in
            if let until = state.quietUntil[user.id] {
                if readAt < until { return }
                state.quietUntil[user.id] = nil
            }
            if state.entries.count >= capacity {
                // Expired entries go first; if all are fresh, the cache starts over. The bound
                // matters more than which users pay one more read.
                state.entries = state.entries.filter { readAt - $0.value.readAt < lifetime }
                if state.entries.count >= capacity { state.entries.removeAll() }
            }
            state.entries[user.id] = Entry(user: user, readAt: readAt)
        }
    }

    /// Drops the user; called by every write to the user's row.
    func forget(_ id: ID<User>, now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            state.entries[id] = nil
            if state.quietUntil.count >= capacity { state.quietUntil = state.quietUntil.filter { $0.value > now } }
            state.quietUntil[id] = now + quiet
        }
    }

    var count: Int { state.withLock { $0.entries.count } }
}
