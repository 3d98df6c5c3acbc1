import EmporiumStorage
import Logging
import ServiceLifecycle
import Synchronization

/// Follows the `catalog_changes` log and applies each change to this node's storefront cache:
/// other nodes' and processes' writes, and this node's own stock writes (made inside
/// transactions that `InventoryStore`'s callers own, so only the log knows when they commit).
///
/// On PostgreSQL a `LISTEN emporium_catalog` connection wakes the feed when a change commits
/// (reads are at least `notificationSpacing` apart), and the log is read at least once a
/// second besides. On SQLite the log is read four times a second: one keyed read that finds
/// nothing when nothing in the catalog changed, whatever else was written. When the log cannot be read, or the notification connection
/// drops, the cache is cleared, since changes may have been missed.
struct CatalogInvalidationListener: Service {
    let database: any Database
    let cache: CatalogCache
    let logger: Logger
    /// Opens once migrations have run: the log exists from then on.
    var gate: StartGate?

    /// Rows kept in the log; each node reads it within a second, so this is minutes of changes.
    static let retainedChanges: Int64 = 100_000

    func run() async throws {
        await gate?.wait()
        let (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                let interval: Duration
                if database.dialect == .postgres {
                    interval = .seconds(1)
                    group.addTask { await listen(wake: wake) }
                } else {
                    interval = .milliseconds(250)
                }
                group.addTask {
                    while !Task.isCancelled {
                        wake.yield()
                        try? await Task.sleep(for: interval)
                    }
                }
                await follow(wakeups)
                group.cancelAll()
            }
        }
        wake.finish()
    }

    /// The least time between two reads of the log on PostgreSQL: under a stream of checkouts
    /// every commit notifies, and one read per notification was a statement per order. A
    /// notification that arrives meanwhile is kept (one wake-up is buffered), so a change is
    /// read by the first read that starts after this pause.
    static let notificationSpacing = Duration.milliseconds(50)

    /// Reads the log on every wake-up until cancelled, and prunes it now and then.
    private func follow(_ wakeups: AsyncStream<Void>) async {
        var lastPrune = ContinuousClock.now
        for await _ in wakeups {
            if Task.isCancelled { return }
            let read = await cache.catchUp(on: database, logger: logger)
            if database.dialect == .postgres { try? await Task.sleep(for: Self.notificationSpacing) }
            guard let last = read else { continue }
            if ContinuousClock.now - lastPrune > .seconds(60) {
                lastPrune = .now
                try? await database.execute("DELETE FROM catalog_changes WHERE seq < \(last - Self.retainedChanges)")
            }
        }
    }

    /// PostgreSQL: wakes the feed on every notification; reconnects with backoff.
    private func listen(wake: AsyncStream<Void>.Continuation) async {
        var delay = Duration.milliseconds(200)
        while !Task.isCancelled {
            do {
                try await database.listen(
                    on: CatalogChanges.channel,
                    // Notifications may have been missed while not listening: read the log.
                    onListening: { wake.yield() },
                    onNotification: { wake.yield() })
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                logger.warning("catalog change notifications interrupted; reconnecting", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(5))
        }
    }
}

/// Reads the change log for one cache, one read at a time: the feed four times a second (or on
/// a notification), and a route that changed stock right after its commit (`catchUp`), so that
/// its own node shows the change at once.
actor ChangeFollower {
    private var cursor: ChangeCursor?
    private var failures = 0
    private var tail: Task<Int64?, Never>?

    /// Applies every change committed before this call; returns the last sequence number read,
    /// or nil when the log could not be read (then the cache has been cleared).
    func catchUp(on database: any Database, cache: CatalogCache, logger: Logger?) async -> Int64? {
        let previous = tail
        let read = Task { () -> Int64? in
            _ = await previous?.value
            return await self.readOnce(database, cache: cache, logger: logger)
        }
        tail = read
        return await read.value
    }

    private func readOnce(_ database: any Database, cache: CatalogCache, logger: Logger?) async -> Int64? {
        do {
            if var known = cursor {
                try await known.read(database) { seq, change in
                    if !cache.takeAppliedLocally(seq) { cache.apply(change) }
                }
                cache.forgetAppliedLocally(through: known.last)
                cursor = known
            } else {
                // Start, or resume after a failure: changes before this point were not
                // followed, so answers stored before it may be stale.
                cursor = try await ChangeCursor.start(database)
                if cache.hasStored { cache.invalidate() }
            }
            if failures > 0 { logger?.info("catalog change log readable again") }
            failures = 0
            return cursor?.last
        } catch {
            cursor = nil
            cache.invalidate()
            failures += 1
            // Before migrations have run the table is missing: say so quietly, then now and then.
            if failures == 1 || failures % 100 == 0 {
                logger?.log(
                    level: failures == 1 ? .debug : .warning, "catalog change log unreadable; cache cleared",
                    metadata: ["error": "\(error)"])
            }
            return nil
        }
    }
}

extension CatalogCache {
    /// Applies every catalog and stock change committed so far, from any node or process. A
    /// route that changed stock calls it after its commit to show the change here at once.
    @discardableResult
    func catchUp(on database: any Database, logger: Logger? = nil) async -> Int64? {
        await follower.catchUp(on: database, cache: self, logger: logger)
    }
}

/// Where a node is in the change log.
///
/// SQLite has one writer, so rows commit in sequence order and `seq > last` finds every new
/// one. PostgreSQL hands out sequence numbers before commit, so a transaction that took 41 may
/// commit after one that took 42: numbers skipped over are remembered for a while and asked
/// for again, until they appear or it is clear they never will (rolled back).
struct ChangeCursor: Sendable {
    private(set) var last: Int64
    private var gaps: [Int64: ContinuousClock.Instant] = [:]
    private let tracksGaps: Bool

    static let gapPatience = Duration.seconds(30)
    static let maximumGaps = 1_000

    static func start(_ db: any SQLExecutor) async throws -> ChangeCursor {
        let last: Int64 = try await db.queryFirst("SELECT COALESCE(MAX(seq), 0) AS last FROM catalog_changes")?.decode("last") ?? 0
        return ChangeCursor(last: last, tracksGaps: db.dialect == .postgres)
    }

    /// Calls `apply` for each change since the last read, in sequence order.
    mutating func read(_ db: any SQLExecutor, apply: (Int64, CatalogChange) -> Void) async throws {
        let now = ContinuousClock.now
        gaps = gaps.filter { now - $0.value < Self.gapPatience }
        var condition: SQL = "seq > \(last)"
        if !gaps.isEmpty {
            condition = "(" + condition + " OR seq IN (" + SQL.joined(gaps.keys.sorted().map { seq -> SQL in "\(seq)" }, separator: ", ") + "))"
        }
        let rows = try await db.query("SELECT seq, payload FROM catalog_changes WHERE \(condition) ORDER BY seq")
        for row in rows {
            let seq: Int64 = try row.decode("seq")
            if seq > last {
                if tracksGaps, seq > last + 1 {
                    guard seq - last - 1 + Int64(gaps.count) <= Int64(Self.maximumGaps) else {
                        // Too many numbers in flight to follow one by one.
                        throw CursorLost()
                    }
                    for missing in (last + 1)..<seq { gaps[missing] = now }
                } else if !tracksGaps, last > 0, seq > last + 1 {
                    // Rows this node never read were pruned.
                    throw CursorLost()
                }
                last = seq
            } else {
                gaps[seq] = nil
            }
            apply(seq, CatalogChange.decode(try row.decode("payload")))
        }
    }

    struct CursorLost: Error {}
}
