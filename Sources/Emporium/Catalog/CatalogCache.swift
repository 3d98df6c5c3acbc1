import Crypto
import EmporiumStorage
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Rendered storefront answers (body and ETag) held in memory. Every catalog or stock write
/// clears it, here at once and on other nodes through a PostgreSQL notification, so a
/// cached answer is never older than the last write plus the notification's trip.
///
/// Invalidation is coarse (all entries) on purpose: writes are rare next to reads, and a
/// precise dependency map would be one more thing to get wrong.
final class CatalogCache: Sendable {
    struct Entry: Sendable {
        let body: ByteBuffer
        let etag: String
    }

    static let notificationChannel = "emporium_catalog"

    private struct State {
        var generation: UInt64 = 0
        var entries: [String: Entry] = [:]
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    /// The cached answer for `key`, or the generation to pass to `store` after computing it.
    func lookup(_ key: String) -> (entry: Entry?, generation: UInt64) {
        state.withLock { ($0.entries[key], $0.generation) }
    }

    /// Keeps an answer computed while `generation` was current; one computed before a write
    /// that has since cleared the cache is dropped, not stored.
    func store(_ entry: Entry, for key: String, computedAt generation: UInt64) {
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[key] = entry
        }
    }

    func invalidate() {
        state.withLock { state in
            state.generation &+= 1
            state.entries.removeAll(keepingCapacity: true)
        }
    }

    var count: Int { state.withLock { $0.entries.count } }

    /// Tells every node, this one included, to clear its cache once the transaction that
    /// runs this statement commits (PostgreSQL delivers notifications on commit).
    static func announceChange(on db: any SQLExecutor) async throws {
        if db.dialect == .postgres {
            try await db.execute("SELECT pg_notify(\(notificationChannel), '')")
        }
    }

    static func makeEntry(_ body: ByteBuffer) -> Entry {
        let digest = SHA256.hash(data: Data(body.readableBytesView))
        return Entry(body: body, etag: "\"" + Hex.string(digest.prefix(16)) + "\"")
    }
}

/// Listens for other nodes' catalog changes and clears the local cache. If the connection
/// drops, notifications may be missed, so the cache is cleared again on every reconnect.
struct CatalogInvalidationListener: Service {
    let database: any Database
    let cache: CatalogCache
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var delay = Duration.milliseconds(200)
            while !Task.isCancelled {
                do {
                    try await database.listen(
                        on: CatalogCache.notificationChannel,
                        onListening: { cache.invalidate() },
                        onNotification: { cache.invalidate() })
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
}
