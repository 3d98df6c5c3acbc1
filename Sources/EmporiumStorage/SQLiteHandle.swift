import EmporiumSQLiteSupport
import Synchronization
import VaporCSQLite

/// One SQLite connection driven through the C API on the calling thread.
///
/// Statements are prepared once per connection and kept (keyed by their text), bound by
/// position and read by position; a result's column names are worked out once per
/// statement, not per row. Nothing here hops to another thread: a keyed statement costs a
/// few microseconds, far less than the two thread hops it used to pay for.
///
/// Not thread-safe by itself: `SQLiteStorage` hands a handle to one user at a time (the
/// writer under its async lock, readers from a free list), which is why it is opened with
/// `SQLITE_OPEN_NOMUTEX` and marked `@unchecked Sendable`.
final class SQLiteHandle: @unchecked Sendable {
    private let connection: OpaquePointer
    private var statements: [String: PreparedStatement] = [:]
    /// Kept while the connection reports its WAL's size into it (see `countWALFrames`).
    private var walFrames: WALFrames?

    /// Statements kept per connection. Statements are written in the code, so the distinct
    /// texts are few; those whose text varies (an `IN` list of varying length) could grow it
    /// without end, so past this many the cache starts over.
    private static let statementCacheLimit = 512

    private final class PreparedStatement {
        let pointer: OpaquePointer
        /// Made on the first row the statement returns and shared by its later rows until
        /// SQLite prepares the statement again.
        var columns: SQLColumnIndex?
        /// How often SQLite had prepared the statement again when `columns` was made: it does
        /// so by itself after a schema change, and a widened `SELECT *` has new columns.
        var columnsPreparation: Int32 = 0

        init(pointer: OpaquePointer) { self.pointer = pointer }

        /// The column index of the statement as it is prepared now, made again only when
        /// SQLite has prepared it again since.
        func columnIndex(count: Int32) -> SQLColumnIndex {
            let preparation = sqlite_nio_sqlite3_stmt_status(pointer, SQLITE_STMTSTATUS_REPREPARE, 0)
            if let columns, columnsPreparation == preparation { return columns }
            let index = SQLColumnIndex(names: (0..<count).map { column in
                sqlite_nio_sqlite3_column_name(pointer, column).map { String(cString: $0) } ?? ""
            })
            columns = index
            columnsPreparation = preparation
            return index
        }
    }

    private init(connection: OpaquePointer) {
        self.connection = connection
    }

    /// Opens (creating when missing) the file at `path`, or a private in-memory database
    /// when `path` is `nil`.
    static func open(path: String?) throws(DatabaseError) -> SQLiteHandle {
        var pointer: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let code = sqlite_nio_sqlite3_open_v2(path ?? ":memory:", &pointer, flags, nil)
        guard let pointer else { throw .unavailable("cannot open SQLite database: out of memory") }
        guard code == SQLITE_OK else {
            let message = String(cString: sqlite_nio_sqlite3_errmsg(pointer))
            sqlite_nio_sqlite3_close_v2(pointer)
            throw .unavailable("cannot open SQLite database \(path ?? ":memory:"): \(message)")
        }
        // Without it, a statement whose parameter SQLite compared with a constant while
        // planning (an `OR` over one column, a partial index's condition) is prepared again
        // on every execution, which cost a checkout more than all its other statements.
        guard emporium_sqlite_enable_stable_plans(UnsafeMutableRawPointer(pointer)) == SQLITE_OK else {
            sqlite_nio_sqlite3_close_v2(pointer)
            throw .unavailable("cannot configure SQLite database \(path ?? ":memory:")")
        }
        return SQLiteHandle(connection: pointer)
    }

    /// Runs statements without binds, several separated by `;` allowed (pragmas, set-up).
    func execute(script: String) throws(DatabaseError) {
        let code = sqlite_nio_sqlite3_exec(connection, script, nil, nil, nil)
        guard code == SQLITE_OK else { throw error(code) }
    }

    /// Runs one statement and returns its rows. Text after the first statement is ignored.
    func run(_ sql: SQL) throws(DatabaseError) -> [SQLRow] {
        let (text, binds) = sql.rendered(for: .sqlite)
        let statement = try prepared(text)
        let pointer = statement.pointer
        defer {
            sqlite_nio_sqlite3_reset(pointer)
            sqlite_nio_sqlite3_clear_bindings(pointer)
        }
        for (offset, value) in binds.enumerated() {
            let code = bind(value, at: Int32(offset + 1), to: pointer)
            guard code == SQLITE_OK else { throw error(code) }
        }
        var rows: [SQLRow] = []
        var columns: SQLColumnIndex?
        while true {
            let code = sqlite_nio_sqlite3_step(pointer)
            if code == SQLITE_DONE { return rows }
            guard code == SQLITE_ROW else { throw error(code) }
            let count = sqlite_nio_sqlite3_column_count(pointer)
            let index = columns ?? statement.columnIndex(count: count)
            columns = index
            var values: [SQLValue] = []
            values.reserveCapacity(Int(count))
            for column in 0..<count {
                values.append(Self.value(of: pointer, at: column))
            }
            rows.append(SQLRow(columns: index, values: values))
        }
    }

    /// After each commit, records the number of frames in the WAL into `frames`. This
    /// replaces SQLite's automatic checkpoint, which would run on the committing thread.
    func countWALFrames(into frames: WALFrames) {
        walFrames = frames
        _ = sqlite_nio_sqlite3_wal_hook(connection, { context, _, _, count in
            if let context { Unmanaged<WALFrames>.fromOpaque(context).takeUnretainedValue().record(Int(count)) }
            return SQLITE_OK
        }, Unmanaged.passUnretained(frames).toOpaque())
    }

    /// Whether a transaction is open. Outside one a statement that found the file busy
    /// changed nothing and may simply run again.
    var isInTransaction: Bool { sqlite_nio_sqlite3_get_autocommit(connection) == 0 }

    /// Finalizes every statement and closes the connection.
    func close() {
        for statement in statements.values { sqlite_nio_sqlite3_finalize(statement.pointer) }
        statements.removeAll()
        sqlite_nio_sqlite3_close_v2(connection)
    }

    // MARK: Internals

    private func prepared(_ text: String) throws(DatabaseError) -> PreparedStatement {
        if let statement = statements[text] { return statement }
        if statements.count >= Self.statementCacheLimit {
            for statement in statements.values { sqlite_nio_sqlite3_finalize(statement.pointer) }
            statements.removeAll(keepingCapacity: true)
        }
        var pointer: OpaquePointer?
        let code = sqlite_nio_sqlite3_prepare_v3(connection, text, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &pointer, nil)
        guard code == SQLITE_OK else { throw error(code) }
        guard let pointer else { throw .engine("empty statement") }
        let statement = PreparedStatement(pointer: pointer)
        statements[text] = statement
        return statement
    }

    private func bind(_ value: SQLValue, at index: Int32, to statement: OpaquePointer) -> Int32 {
        switch value {
        case .null:
            return sqlite_nio_sqlite3_bind_null(statement, index)
        case .integer(let integer):
            return sqlite_nio_sqlite3_bind_int64(statement, index, integer)
        case .real(let real):
            return sqlite_nio_sqlite3_bind_double(statement, index, real)
        case .bool(let bool):
            return sqlite_nio_sqlite3_bind_int64(statement, index, bool ? 1 : 0)
        case .text(let text):
            var text = text
            return text.withUTF8 { bytes in
                sqlite_nio_sqlite3_bind_text64(
                    statement, index, UnsafeRawPointer(bytes.baseAddress)?.assumingMemoryBound(to: CChar.self),
                    UInt64(bytes.count), sqliteTransient, UInt8(SQLITE_UTF8))
            }
        case .blob(let bytes):
            return bytes.withUnsafeBytes { buffer in
                sqlite_nio_sqlite3_bind_blob64(statement, index, buffer.baseAddress, UInt64(buffer.count), sqliteTransient)
            }
        }
    }

    private static func value(of statement: OpaquePointer, at column: Int32) -> SQLValue {
        switch sqlite_nio_sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER:
            return .integer(sqlite_nio_sqlite3_column_int64(statement, column))
        case SQLITE_FLOAT:
            return .real(sqlite_nio_sqlite3_column_double(statement, column))
        case SQLITE_TEXT:
            // Ask for the text before its length: the order SQLite documents as safe.
            guard let text = sqlite_nio_sqlite3_column_text(statement, column) else { return .text("") }
            let count = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
            guard count > 0, let bytes = sqlite_nio_sqlite3_column_blob(statement, column) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: bytes, count: count)))
        default:
            return .null
        }
    }

    /// The connection's error for a failed call, in the terms the rest of the program uses.
    private func error(_ code: Int32) -> DatabaseError {
        let extended = sqlite_nio_sqlite3_extended_errcode(connection)
        let message = String(cString: sqlite_nio_sqlite3_errmsg(connection))
        // "UNIQUE constraint failed: users.email" names the columns; keep that part.
        let subject = message.split(separator: ": ", maxSplits: 1).last.map(String.init)
        switch (code & 0xFF, extended) {
        case (SQLITE_CONSTRAINT, sqliteConstraintUnique), (SQLITE_CONSTRAINT, sqliteConstraintPrimaryKey):
            return .uniqueViolation(constraint: subject)
        case (SQLITE_CONSTRAINT, _):
            return .constraintViolation(constraint: subject)
        case (SQLITE_BUSY, _), (SQLITE_LOCKED, _):
            return .transactionConflict
        default:
            return .engine(message)
        }
    }
}

/// How many frames a connection's WAL held after its last commit.
final class WALFrames: Sendable {
    private let frames = Atomic<Int>(0)

    var count: Int { frames.load(ordering: .relaxed) }

    func record(_ count: Int) { frames.store(count, ordering: .relaxed) }
}

/// Tells SQLite to copy bound text and bytes, which live only for the call.
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
/// Extended result codes that the C importer does not bring over (they are macros of macros).
private let sqliteConstraintUnique = SQLITE_CONSTRAINT | (8 << 8)
private let sqliteConstraintPrimaryKey = SQLITE_CONSTRAINT | (6 << 8)
