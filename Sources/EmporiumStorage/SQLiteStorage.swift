import Foundation
public import Logging
import ServiceLifecycle
import NIOCore
import NIOPosix
import SQLiteNIO
import Synchronization

/// The embedded database: one SQLite file in WAL mode, or a private in-memory database.
///
/// SQLite allows one writer at a time per file, so all writes and transactions go through a
/// single writer connection, handed out in turn by an async lock (no thread blocks waiting,
/// no `SQLITE_BUSY` between our own tasks). Plain SELECTs run on a few reader connections in
/// parallel; WAL lets them read while the writer writes. An in-memory database has only one
/// connection, so everything takes turns on it.
public final class SQLiteStorage: Database {
    public let dialect = SQLDialect.sqlite
    public let displayName: String

    private let writer: SQLiteConnection
    private let readers: [SQLiteConnection]
    /// One statement at a time per reader: statements running at once on one connection share
    /// its read transaction, so a read that joined a long one saw the database as it was when
    /// that one began, missing rows committed since.
    private let readerLocks: [AsyncLock]
    private let writerLock = AsyncLock()
    private let nextReader = Atomic<Int>(0)
    private let active = Atomic<Int>(0)
    private let isClosed = Atomic<Bool>(false)
    private let logger: Logger
    /// Threads for this database's blocking SQLite calls, one per connection, so that a call
    /// waiting on a file lock held by another process never starves this process's others.
    private let threadPool: NIOThreadPool

    private init(
        displayName: String, writer: SQLiteConnection, readers: [SQLiteConnection], threadPool: NIOThreadPool,
        logger: Logger
    ) {
        self.displayName = displayName
        self.threadPool = threadPool
        self.writer = writer
        self.readers = readers
        self.readerLocks = readers.map { _ in AsyncLock() }
        self.logger = logger
    }

    /// Opens (creating when missing) the database, with `readerCount` reader connections for
    /// a file database.
    public static func open(
        _ url: DatabaseURL, readerCount: Int = 4, logger: Logger
    ) async throws(DatabaseError) -> SQLiteStorage {
        switch url {
        case .sqliteMemory:
            let threadPool = NIOThreadPool(numberOfThreads: 1)
            threadPool.start()
            do throws(DatabaseError) {
                let connection = try await openConnection(.memory, threadPool: threadPool, logger: logger)
                do throws(DatabaseError) {
                    try await configure(connection, pragmas: ["PRAGMA foreign_keys = ON"])
                } catch {
                    try? await connection.close()
                    throw error
                }
                return SQLiteStorage(
                    displayName: url.description, writer: connection, readers: [], threadPool: threadPool, logger: logger)
            } catch {
                try? await threadPool.shutdownGracefully()
                throw error
            }
        case .sqliteFile(let path):
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let readerCount = max(1, readerCount)
            let threadPool = NIOThreadPool(numberOfThreads: readerCount + 1)
            threadPool.start()
            var opened: [SQLiteConnection] = []
            do throws(DatabaseError) {
                let writer = try await openConnection(.file(path: path), threadPool: threadPool, logger: logger)
                opened.append(writer)
                // synchronous=NORMAL in WAL mode survives a killed process (the WAL is on disk
                // before COMMIT returns); only a power cut can lose the last commits.
                try await configure(writer, pragmas: [
                    "PRAGMA busy_timeout = 5000", "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON",
                ])
                var readers: [SQLiteConnection] = []
                for _ in 0..<readerCount {
                    let reader = try await openConnection(.file(path: path), threadPool: threadPool, logger: logger)
                    opened.append(reader)
                    try await configure(reader, pragmas: [
                        "PRAGMA busy_timeout = 5000", "PRAGMA foreign_keys = ON", "PRAGMA query_only = 1",
                    ])
                    readers.append(reader)
                }
                return SQLiteStorage(
                    displayName: url.description, writer: writer, readers: readers, threadPool: threadPool, logger: logger)
            } catch {
                for connection in opened { try? await connection.close() }
                try? await threadPool.shutdownGracefully()
                throw error
            }
        case .postgres:
            preconditionFailure("SQLiteStorage.open called with a PostgreSQL URL")
        }
    }

    // MARK: Database

    public func query(_ sql: SQL) async throws(DatabaseError) -> [SQLRow] {
        try checkOpen()
        active.add(1, ordering: .relaxed)
        defer { active.subtract(1, ordering: .relaxed) }
        if sql.isSelect, !readers.isEmpty {
            // An idle reader if there is one, else the next in turn.
            let index = readerLocks.firstIndex { !$0.isLocked }
                ?? nextReader.add(1, ordering: .relaxed).newValue % readers.count
            return try await withReader(index) { connection throws(DatabaseError) in try await Self.run(sql, on: connection) }
        }
        return try await withWriter { connection throws(DatabaseError) in
            try await Self.run(sql, on: connection)
        }
    }

    public func transaction<Result: Sendable>(
        _ body: (any SQLExecutor) async throws -> Result
    ) async throws -> Result {
        try checkOpen()
        active.add(1, ordering: .relaxed)
        defer { active.subtract(1, ordering: .relaxed) }
        return try await writerLock.withLock {
            try await Self.transaction(on: writer, body)
        }
    }

    public func withConnection<Result: Sendable>(
        _ body: (any DatabaseConnection) async throws -> Result
    ) async throws -> Result {
        try checkOpen()
        active.add(1, ordering: .relaxed)
        defer { active.subtract(1, ordering: .relaxed) }
        return try await writerLock.withLock {
            try await body(SQLiteSession(connection: writer))
        }
    }

    /// SQLite has no notifications, but another process may write the file (`emporium import`
    /// beside a running server). SQLite's `data_version` changes for a connection whenever
    /// another connection commits, so one reader watches it twice a second and reports a
    /// change as a notification. Our own writes count too, which is harmless for a cache.
    public func listen(
        on channel: String, onListening: @Sendable () -> Void, onNotification: @escaping @Sendable () -> Void
    ) async throws {
        onListening()
        guard !readers.isEmpty else {
            // An in-memory database belongs to this process alone.
            while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
            return
        }
        var last: Int64?
        while !Task.isCancelled {
            try checkOpen()
            let version: Int64? = try await withReader(0) { connection throws(DatabaseError) in
                try await Self.run("PRAGMA data_version", on: connection)
            }.first?.decode("data_version")
            if let last, version != last { onNotification() }
            last = version
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    public var statistics: DatabaseStatistics {
        DatabaseStatistics(
            maximumConnections: 1 + readers.count,
            inUse: active.load(ordering: .relaxed),
            waiting: writerLock.waitingCount)
    }

    /// Keeps the connections open until graceful shutdown, then closes them.
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }

    public func close() async {
        guard !isClosed.exchange(true, ordering: .acquiring) else { return }
        // Let statements that already started finish, for a bounded time.
        for _ in 0..<500 where active.load(ordering: .relaxed) > 0 {
            try? await Task.sleep(for: .milliseconds(10))
        }
        // Closing must happen even when the calling task is being cancelled (a failing test,
        // a cancelled service group): an unclosed handle leaks and traps in debug builds.
        let connections = readers + [writer]
        let logger = logger
        let threadPool = threadPool
        await Task {
            await writerLock.withLock {
                for connection in connections {
                    do {
                        try await connection.close()
                    } catch {
                        logger.warning("closing an SQLite connection failed", metadata: ["error": "\(error)"])
                    }
                }
            }
            try? await threadPool.shutdownGracefully()
        }.value
    }

    // MARK: Internals

    private func checkOpen() throws(DatabaseError) {
        if isClosed.load(ordering: .relaxed) { throw .unavailable("the database handle is closed") }
    }

    private func withReader<Result>(
        _ index: Int, _ body: (SQLiteConnection) async throws(DatabaseError) -> Result
    ) async throws(DatabaseError) -> Result {
        do {
            return try await readerLocks[index].withLock { try await body(readers[index]) }
        } catch let error as DatabaseError {
            throw error
        } catch {
            throw .engine("\(error)")
        }
    }

    private func withWriter<Result>(
        _ body: (SQLiteConnection) async throws(DatabaseError) -> Result
    ) async throws(DatabaseError) -> Result {
        do {
            return try await writerLock.withLock { try await body(writer) }
        } catch let error as DatabaseError {
            throw error
        } catch {
            throw .engine("\(error)")
        }
    }

    static func transaction<Result>(
        on connection: SQLiteConnection, _ body: (any SQLExecutor) async throws -> Result
    ) async throws -> Result {
        // IMMEDIATE takes the write lock up front, so two processes on one file cannot both
        // read and then fail to upgrade.
        try await run("BEGIN IMMEDIATE", on: connection)
        let result: Result
        do {
            result = try await body(SQLiteSession(connection: connection))
        } catch {
            _ = try? await run("ROLLBACK", on: connection)
            throw error
        }
        do {
            try await run("COMMIT", on: connection)
        } catch {
            _ = try? await run("ROLLBACK", on: connection)
            throw error
        }
        return result
    }

    @discardableResult
    static func run(_ sql: SQL, on connection: SQLiteConnection) async throws(DatabaseError) -> [SQLRow] {
        let (text, binds) = sql.rendered(for: .sqlite)
        let collector = RowCollector()
        do {
            try await connection.query(text, binds.map(SQLiteData.init)) { row in collector.rows.append(row) }
        } catch {
            throw DatabaseError(sqlite: error)
        }
        guard let first = collector.rows.first else { return [] }
        let columns = SQLColumnIndex(names: first.columns.map(\.name))
        return collector.rows.map { row in
            SQLRow(columns: columns, values: row.columns.map { SQLValue($0.data) })
        }
    }

    private static func openConnection(
        _ storage: SQLiteConnection.Storage, threadPool: NIOThreadPool, logger: Logger
    ) async throws(DatabaseError) -> SQLiteConnection {
        do {
            return try await SQLiteConnection.open(
                storage: storage, threadPool: threadPool, logger: logger,
                on: MultiThreadedEventLoopGroup.singleton.any())
        } catch {
            let location = if case .file(let path) = storage { path } else { ":memory:" }
            throw .unavailable("cannot open SQLite database \(location): \(DatabaseError(sqlite: error))")
        }
    }

    private static func configure(_ connection: SQLiteConnection, pragmas: [String]) async throws(DatabaseError) {
        for pragma in pragmas {
            try await run(SQL(stringLiteral: pragma), on: connection)
        }
    }
}

/// The writer connection while its holder has the writer lock.
struct SQLiteSession: DatabaseConnection {
    let connection: SQLiteConnection
    var dialect: SQLDialect { .sqlite }

    func query(_ sql: SQL) async throws(DatabaseError) -> [SQLRow] {
        try await SQLiteStorage.run(sql, on: connection)
    }

    func transaction<Result: Sendable>(_ body: (any SQLExecutor) async throws -> Result) async throws -> Result {
        try await SQLiteStorage.transaction(on: connection, body)
    }
}

/// Collects rows from sqlite-nio's row callback. The callback runs on one pool thread, one
/// row after another, and `query` returns only after the last, so no two threads ever touch
/// `rows` at once.
private final class RowCollector: @unchecked Sendable {
    var rows: [SQLiteRow] = []
}

extension SQLiteData {
    init(_ value: SQLValue) {
        switch value {
        case .null: self = .null
        case .integer(let integer): self = .integer(SQLiteInt64(integer))
        case .real(let real): self = .float(real)
        case .text(let text): self = .text(text)
        case .bool(let bool): self = .integer(bool ? 1 : 0)
        case .blob(let bytes): self = .blob(ByteBuffer(bytes: bytes))
        }
    }
}

extension SQLValue {
    init(_ data: SQLiteData) {
        switch data {
        case .null: self = .null
        case .integer(let integer): self = .integer(Int64(integer))
        case .float(let real): self = .real(real)
        case .text(let text): self = .text(text)
        case .blob(let buffer): self = .blob(Array(buffer.readableBytesView))
        }
    }
}

extension DatabaseError {
    init(sqlite error: any Error) {
        guard let error = error as? SQLiteError else {
            self = .engine("\(error)")
            return
        }
        switch error.reason {
        case .constraintUniqueFailed, .constraintPrimaryKeyFailed:
            // "UNIQUE constraint failed: users.email" names the columns; keep that part.
            self = .uniqueViolation(constraint: error.message.split(separator: ": ", maxSplits: 1).last.map(String.init))
        case .constraint, .constraintCheckFailed, .constraintNotNullFailed, .constraintForeignKeyFailed,
            .constraintTriggerFailed:
            self = .constraintViolation(constraint: error.message.split(separator: ": ", maxSplits: 1).last.map(String.init))
        case .busy, .busyTimeout, .locked, .busyInSnapshot, .busyInRecovery:
            self = .transactionConflict
        default:
            self = .engine(error.message)
        }
    }
}
