import Foundation
public import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The embedded database: one SQLite file in WAL mode, or a private in-memory database.
///
/// SQLite allows one writer at a time per file, so all writes and transactions go through a
/// single writer connection, handed out in turn by an async lock (no thread blocks waiting,
/// no `SQLITE_BUSY` between our own tasks). Plain SELECTs run on reader connections taken
/// from a free list; WAL lets them read while the writer writes. An in-memory database has
/// only one connection, so everything takes turns on it.
///
/// Reads run on the calling thread (see `SQLiteHandle`). A write or a transaction hops once to
/// the writer's own thread (`WriterThread`) and runs there as one unit, with no hop per
/// statement. Waiting is never done on a thread: the connections have no busy timeout, and
/// when another process holds the file's write lock (`emporium import` beside a server) the
/// caller sleeps asynchronously and tries again, for at most `busyLimit`, then gets
/// `DatabaseError.transactionConflict` (answered 503 with `Retry-After`).
public final class SQLiteStorage: Database {
    public let dialect = SQLDialect.sqlite
    public let displayName: String

    private let path: String?
    private let writer: SQLiteHandle
    private let writerLock = AsyncLock()
    /// Where writes run: each one hops here once and runs to its end (see `WriterThread`).
    private let writerThread = WriterThread(name: "sqlite-writer")
    private let walFrames = WALFrames()
    /// Idle readers. Statements never suspend while they hold one, so no more are ever in use
    /// than threads run our code at once; more are opened on demand up to `readerLimit`.
    private let idleReaders: Mutex<IdleReaders>
    private let openReaders: Atomic<Int>
    private let readerLimit: Int
    private let active = Atomic<Int>(0)
    private let isClosed = Atomic<Bool>(false)
    private let logger: Logger

    // No memory map (`PRAGMA mmap_size`): in WAL mode a reader drops its whole mapping each
    // time it finds that another connection committed, so under writes every read paid an
    // munmap and a TLB shootdown across cores (9 % of the CPU of add to cart; without the map,
    // add to cart 5,340 → 6,820 requests/s).

    /// How long a caller keeps retrying while another process holds the write lock.
    private let busyLimit: Duration

    deinit { writerThread.stop() }

    private init(
        displayName: String, path: String?, writer: SQLiteHandle, readers: [SQLiteHandle], readerLimit: Int,
        busyLimit: Duration, logger: Logger
    ) {
        self.busyLimit = busyLimit
        self.displayName = displayName
        self.path = path
        self.writer = writer
        self.idleReaders = Mutex(IdleReaders(handles: readers))
        self.openReaders = Atomic(readers.count)
        self.readerLimit = readerLimit
        self.logger = logger
    }

    /// Opens (creating when missing) the database, with `readerCount` reader connections
    /// ready for a file database (more are opened when that many are busy at once). While
    /// another process holds the file's write lock, writes wait up to `busyLimit`.
    public static func open(
        _ url: DatabaseURL, readerCount: Int = 4, busyLimit: Duration = .seconds(5), logger: Logger
    ) async throws(DatabaseError) -> SQLiteStorage {
        switch url {
        case .sqliteMemory:
            let connection = try SQLiteHandle.open(path: nil)
            do throws(DatabaseError) {
                try connection.execute(script: "PRAGMA foreign_keys = ON")
            } catch {
                connection.close()
                throw error
            }
            return SQLiteStorage(
                displayName: url.description, path: nil, writer: connection, readers: [], readerLimit: 0, busyLimit: busyLimit,
                logger: logger)
        case .sqliteFile(let path):
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var opened: [SQLiteHandle] = []
            do throws(DatabaseError) {
                let writer = try SQLiteHandle.open(path: path)
                opened.append(writer)
                // synchronous=NORMAL in WAL mode survives a killed process (the WAL is on disk
                // before COMMIT returns); only a power cut can lose the last commits. Switching
                // to WAL needs the file for a moment, so that one step may wait for another
                // process, on a thread, once, at start-up.
                try writer.execute(script: "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL")
                try writer.execute(script: """
                    PRAGMA busy_timeout = 0; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
                    PRAGMA temp_store = MEMORY; PRAGMA journal_size_limit = 33554432
                    """)
                var readers: [SQLiteHandle] = []
                for _ in 0..<max(1, readerCount) {
                    let reader = try openReader(path: path)
                    opened.append(reader)
                    readers.append(reader)
                }
                return SQLiteStorage(
                    displayName: url.description, path: path, writer: writer, readers: readers,
                    readerLimit: max(16, readerCount), busyLimit: busyLimit, logger: logger)
            } catch {
                for connection in opened { connection.close() }
                throw error
            }
        case .postgres:
            preconditionFailure("SQLiteStorage.open called with a PostgreSQL URL")
        }
    }

    private static func openReader(path: String) throws(DatabaseError) -> SQLiteHandle {
        let reader = try SQLiteHandle.open(path: path)
        do throws(DatabaseError) {
            // 16 MiB of pages per reader, not SQLite's 2 MiB: a catalog of 10,000 products is
            // about 36 MiB, and a page read from the database that misses this cache reads
            // its pages from the OS with a `pread` each. The cache fills only as pages are
            // read, and a commit by the writer empties it (WAL's rule), so an idle node or a
            // small shop pays nothing for it.
            try reader.execute(script: """
                PRAGMA busy_timeout = 0; PRAGMA foreign_keys = ON; PRAGMA query_only = 1; PRAGMA cache_size = -16384
                """)
        } catch {
            reader.close()
            throw error
        }
        return reader
    }

    // MARK: Database

    public func query(_ sql: SQL) async throws(DatabaseError) -> [SQLRow] {
        try checkOpen()
        active.add(1, ordering: .relaxed)
        defer { active.subtract(1, ordering: .relaxed) }
        if sql.isSelect, let path {
            return try await retryingWhileBusy { () throws(DatabaseError) in
                try withReader(path: path) { reader throws(DatabaseError) in try reader.run(sql) }
            }
        }
        // A single statement outside a transaction commits on its own; when the file is busy
        // it changed nothing, so trying again is safe.
        return try await withWriter { writer throws(DatabaseError) in
            try await retryingWhileBusy { () throws(DatabaseError) in try writer.run(sql) }
        }
    }

    public func transaction<Result: Sendable>(
        _ body: (any SQLExecutor) async throws -> Result
    ) async throws -> Result {
        try checkOpen()
        active.add(1, ordering: .relaxed)
        defer { active.subtract(1, ordering: .relaxed) }
        return try await withTaskExecutorPreference(writerThread) {
            try await writerLock.withLock {
                try checkOpen()
                return try await Self.transaction(on: writer, busyLimit: busyLimit, body)
            }
        }
    }

    public func withConnection<Result: Sendable>(
        _ body: (any DatabaseConnection) async throws -> Result
    ) async throws -> Result {
        try checkOpen()
        active.add(1, ordering: .relaxed)
        defer { active.subtract(1, ordering: .relaxed) }
        return try await withTaskExecutorPreference(writerThread) {
            try await writerLock.withLock {
                try checkOpen()
                return try await body(SQLiteSession(handle: writer, busyLimit: busyLimit))
            }
        }
    }

    /// SQLite has no notifications: this only waits to be cancelled. What must notice
    /// another process's writes polls a table for them (the catalog's change log does).
    public func listen(
        on channel: String, onListening: @Sendable () -> Void, onNotification: @escaping @Sendable () -> Void
    ) async throws {
        onListening()
        while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
    }

    public var statistics: DatabaseStatistics {
        DatabaseStatistics(
            maximumConnections: 1 + readerLimit,
            inUse: active.load(ordering: .relaxed),
            waiting: writerLock.waitingCount)
    }

    /// Keeps the connections open until graceful shutdown, then closes them. Meanwhile it
    /// takes over the WAL checkpoints: left to SQLite, the commit that crosses 1,000 pages
    /// of WAL copies them into the database and syncs the file on the thread that commits,
    /// which here is a thread that serves requests. Instead, whenever the writer's last commit
    /// left `checkpointFrames` or more in the WAL, a connection of its own does that on a
    /// thread of its own, in two passes. The first runs beside the writer: it copies the pages
    /// and then the database file is synced (a 4 MB WAL took about 40 ms here under checkout
    /// load, 40 % of the writer's busy time while the lock was held for all of it). The second
    /// holds the writer lock (writers wait without a thread; readers go on) and copies and
    /// syncs only what was committed during the first, so the checkpoint catches up with the
    /// last commit and the next write starts the WAL over, which a checkpoint racing a steady
    /// stream of writes would never see. The trigger is the frame count the writer reports,
    /// not the file's size: a restarted WAL is written over from its start, and its file keeps
    /// the size it once reached (up to `journal_size_limit`). Commands (seed, import) run this
    /// service too, so their checkpoints are these.
    public func run() async throws {
        guard let path, !isClosed.load(ordering: .relaxed) else {
            try? await gracefulShutdown()
            await close()
            return
        }
        let checkpointer = try SQLiteHandle.open(path: path)
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        try? await withWriter { writer throws(DatabaseError) in writer.countWALFrames(into: walFrames) }
        let checkpoints = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                guard walFrames.count >= Self.checkpointFrames else { continue }
                do {
                    try checkOpen()
                    try await thread.runIfActive {
                        try checkpointer.execute(script: "PRAGMA wal_checkpoint(PASSIVE)")
                        try Self.sync(path)
                    }
                    try await writerLock.withLock {
                        try checkOpen()
                        let outcome = try await thread.runIfActive { try checkpointer.run("PRAGMA wal_checkpoint(PASSIVE)") }
                        // No commit can come between this and the lock's release. When a reader
                        // still needs old frames, the count stays and the next tick tries again.
                        if let row = outcome.first, try row.decode("busy", as: Int.self) == 0,
                            try row.decode("log", as: Int.self) == row.decode("checkpointed", as: Int.self)
                        {
                            walFrames.record(0)
                        }
                    }
                } catch is CancellationError {
                    break
                } catch where isClosed.load(ordering: .relaxed) {
                    // The database closed under the checkpoint (a command ending): nothing is lost.
                    break
                } catch {
                    logger.warning("checkpointing the SQLite WAL failed", metadata: ["error": "\(error)"])
                }
            }
        }
        try? await gracefulShutdown()
        checkpoints.cancel()
        _ = await checkpoints.result
        try? await thread.shutdownGracefully()
        checkpointer.close()
        await close()
    }

    /// SQLite's own threshold: 1,000 pages.
    public static let checkpointFrames = 1_000

    /// Frames in the WAL after the writer's last commit, while the service runs (`run()`);
    /// a checkpoint brings it back below `checkpointFrames`.
    public var walFrameCount: Int { walFrames.count }

    /// Flushes the file at `path` to the disk.
    private static func sync(_ path: String) throws(DatabaseError) {
        guard let file = FileHandle(forReadingAtPath: path) else { throw .engine("cannot open \(path) to sync it") }
        defer { try? file.close() }
        do {
            try file.synchronize()
        } catch {
            throw .engine("cannot sync \(path): \(error)")
        }
    }

    public func close() async {
        guard !isClosed.exchange(true, ordering: .acquiring) else { return }
        // Let statements that already started finish, for a bounded time.
        for _ in 0..<500 where active.load(ordering: .relaxed) > 0 {
            try? await Task.sleep(for: .milliseconds(10))
        }
        // Closing must happen even when the calling task is being cancelled (a failing test,
        // a cancelled service group): an unclosed handle leaks.
        await Task {
            await writerLock.withLock {
                for reader in takeIdleReaders() { reader.close() }
                writer.close()
            }
        }.value
        writerThread.stop()
    }

    // MARK: Internals

    /// Reader connections not in use. Once closed, none is handed out and one given back is
    /// closed rather than kept: a handle must never be used after `close`.
    private struct IdleReaders {
        var handles: [SQLiteHandle]
        var isClosed = false
    }

    private func takeIdleReaders() -> [SQLiteHandle] {
        idleReaders.withLock { readers in
            readers.isClosed = true
            defer { readers.handles.removeAll() }
            return readers.handles
        }
    }

    private func checkOpen() throws(DatabaseError) {
        if isClosed.load(ordering: .relaxed) { throw .unavailable("the database handle is closed") }
    }

    private func withReader<Result>(
        path: String, _ body: (SQLiteHandle) throws(DatabaseError) -> Result
    ) throws(DatabaseError) -> Result {
        let (idle, isClosed) = idleReaders.withLock { ($0.handles.popLast(), $0.isClosed) }
        if isClosed { throw .unavailable("the database handle is closed") }
        let reader: SQLiteHandle
        if let idle {
            reader = idle
        } else if openReaders.add(1, ordering: .relaxed).newValue <= readerLimit {
            do {
                reader = try Self.openReader(path: path)
            } catch {
                openReaders.subtract(1, ordering: .relaxed)
                throw error
            }
        } else {
            // More threads than readers at once cannot happen with the default limit; if it
            // does, a short-lived extra connection is slower but correct.
            openReaders.subtract(1, ordering: .relaxed)
            let extra = try Self.openReader(path: path)
            defer { extra.close() }
            return try body(extra)
        }
        defer {
            let kept = idleReaders.withLock { readers -> Bool in
                if readers.isClosed { return false }
                readers.handles.append(reader)
                return true
            }
            if !kept { reader.close() }
        }
        return try body(reader)
    }

    private func withWriter<Result>(
        _ body: (SQLiteHandle) async throws(DatabaseError) -> Result
    ) async throws(DatabaseError) -> Result {
        do {
            return try await withTaskExecutorPreference(writerThread) {
                try await writerLock.withLock {
                    try checkOpen()
                    return try await body(writer)
                }
            }
        } catch let error as DatabaseError {
            throw error
        } catch {
            throw .engine("\(error)")
        }
    }

    private func retryingWhileBusy<Result>(
        _ attempt: () throws(DatabaseError) -> Result
    ) async throws(DatabaseError) -> Result {
        try await Self.retryingWhileBusy(for: busyLimit, attempt)
    }
}
