import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ServiceLifecycle
import Testing

@Suite struct StorageTests {
    func withDatabase(_ body: @escaping @Sendable (any Database) async throws -> Void) async throws {
        try await TestDatabase.withFresh { url in
            var configuration = AppConfiguration()
            configuration.databaseURL = url
            try await Emporium.withDatabase(configuration, logger: Logger(label: "storage-test")) { database in
                try await database.execute("CREATE TABLE items (id TEXT PRIMARY KEY, quantity BIGINT NOT NULL CHECK (quantity >= 0), price REAL, active BOOLEAN NOT NULL, note TEXT, data BYTEA_OR_BLOB)".replacingDataType(database.dialect))
                try await body(database)
            }
        }
    }

    /// A read that starts while a long one runs on the same SQLite reader must still see what
    /// was committed in between: statements running at once on one connection share its read
    /// transaction, so the second would see the database as it was when the first began.
    @Test func sqliteReadsSeeCommitsMadeDuringALongRead() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-readers-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let database = try await SQLiteStorage.open(.sqliteFile(path: path), readerCount: 1, logger: Logger(label: "storage-test"))
        try await database.execute("CREATE TABLE filler (x BIGINT NOT NULL)")
        try await database.execute("""
            INSERT INTO filler (x) WITH RECURSIVE counter(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM counter WHERE x < 300000)
            SELECT x FROM counter
            """)
        try await database.execute("CREATE TABLE marks (id INTEGER PRIMARY KEY)")
        let long = Task { try await database.query("SELECT x FROM filler") }
        try await Task.sleep(for: .milliseconds(50))
        try await database.execute("INSERT INTO marks (id) VALUES (1)")
        let seen = try await database.queryFirst("SELECT id FROM marks WHERE id = 1")
        _ = try await long.value
        await database.close()
        #expect(seen != nil)
    }

    /// Another process holding the file's write lock (here: another handle on the same file)
    /// makes writes wait without a thread, reads go on, and a write that waited too long is
    /// refused as a conflict (answered 503), changing nothing.
    @Test func sqliteWritesWaitForAnotherWriterAsynchronouslyThenGiveUp() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-busy-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let logger = Logger(label: "storage-test")
        let ours = try await SQLiteStorage.open(.sqliteFile(path: path), readerCount: 1, busyLimit: .milliseconds(300), logger: logger)
        let theirs = try await SQLiteStorage.open(.sqliteFile(path: path), readerCount: 1, logger: logger)
        try await ours.execute("CREATE TABLE marks (id INTEGER PRIMARY KEY)")
        let (held, holding) = AsyncStream.makeStream(of: Void.self)
        let (released, release) = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            try await theirs.transaction { db in
                try await db.execute("INSERT INTO marks (id) VALUES (1)")
                holding.yield()
                for await _ in released { break }
            }
        }
        for await _ in held { break }
        await #expect(throws: DatabaseError.transactionConflict) {
            try await ours.transaction { db in try await db.execute("INSERT INTO marks (id) VALUES (2)") }
        }
        await #expect(throws: DatabaseError.transactionConflict) { try await ours.execute("INSERT INTO marks (id) VALUES (3)") }
        // Reads go on meanwhile; they see the last commit, not the other writer's open work.
        #expect(try await ours.query("SELECT id FROM marks").isEmpty)
        release.yield()
        try await holder.value
        try await ours.transaction { db in try await db.execute("INSERT INTO marks (id) VALUES (2)") }
        let ids = try await ours.query("SELECT id FROM marks ORDER BY id").map { try $0.decode("id", as: Int.self) }
        #expect(ids == [1, 2])
        await theirs.close()
        await ours.close()
    }

    /// `emporium` commands run the database's service beside a short body that may close the
    /// handle before the service has even started; the service must then touch no connection
    /// (it once set a pragma on the closed writer, freed memory, and crashed later elsewhere).
    @Test func aServiceStartedAfterCloseUsesNoConnection() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-late-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let database = try await SQLiteStorage.open(.sqliteFile(path: path), readerCount: 1, logger: Logger(label: "storage-test"))
        try await database.execute("CREATE TABLE marks (id INTEGER PRIMARY KEY)")
        await database.close()
        let service = Task { try await database.run() }
        try await Task.sleep(for: .milliseconds(50))
        service.cancel()
        try await service.value
        await #expect(throws: DatabaseError.self) { try await database.execute("INSERT INTO marks (id) VALUES (1)") }
        await #expect(throws: DatabaseError.self) { try await database.query("SELECT id FROM marks") }
        await #expect(throws: DatabaseError.self) { try await database.transaction { db in try await db.execute("SELECT 1") } }
    }

    /// The running service checkpoints the WAL itself (SQLite's own automatic checkpoint is
    /// off): after commits that wrote far more than `checkpointFrames`, a later commit finds
    /// the WAL started over.
    @Test func theServiceCheckpointsAndTheWALStartsOver() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-wal-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let database = try await SQLiteStorage.open(.sqliteFile(path: path), readerCount: 1, logger: Logger(label: "storage-test"))
        try await database.execute("CREATE TABLE pages (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        let service = Task { try await database.run() }
        defer { service.cancel() }
        let body = SQLValue.blob([UInt8](repeating: 7, count: 3_000))
        // A commit and the count it left, read while the writer lock is held, so that no
        // checkpoint's bookkeeping comes in between.
        func commitAndCount() async throws -> Int {
            try await database.withConnection { connection in
                try await connection.execute("INSERT INTO pages (body) VALUES (\(body))")
                return database.walFrameCount
            }
        }
        // The service counts frames from its first commit on.
        let deadline = ContinuousClock.now + .seconds(30)
        var counted = false
        while !counted, ContinuousClock.now < deadline {
            counted = try await commitAndCount() > 0
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(counted)
        for _ in 0..<(3 * SQLiteStorage.checkpointFrames) {
            try await database.execute("INSERT INTO pages (body) VALUES (\(body))")
        }
        var startedOver = false
        for _ in 0..<300 where !startedOver {
            try await Task.sleep(for: .milliseconds(100))
            startedOver = try await commitAndCount() < SQLiteStorage.checkpointFrames
        }
        #expect(startedOver, "the WAL still holds \(database.walFrameCount) frames")
        service.cancel()
        try await service.value
    }

    @Test func valuesRoundTripThroughBindsAndRows() async throws {
        try await withDatabase { database in
            let id = TimeOrderedIDGenerator().make(StorageTests.self)
            let note: String? = nil
            let quote = "O'Brien; DROP TABLE items; --"
            try await database.execute("""
                INSERT INTO items (id, quantity, price, active, note, data)
                VALUES (\(id), \(Int64.max), \(12.5), \(true), \(note), \(SQLValue.blob([0, 1, 255])))
                """)
            try await database.execute("INSERT INTO items (id, quantity, active, note) VALUES ('b', 0, \(false), \(quote))")
            let row = try #require(try await database.queryFirst("SELECT * FROM items WHERE id = \(id)"))
            #expect(try row.decode("id", as: ID<StorageTests>.self) == id)
            #expect(try row.decode("quantity", as: Int64.self) == .max)
            #expect(try row.decode("price", as: Double.self) == 12.5)
            #expect(try row.decode("active", as: Bool.self))
            #expect(try row.decode("note", as: String?.self) == nil)
            #expect(try row.value("data") == .blob([0, 1, 255]))
            let other = try #require(try await database.queryFirst("SELECT note, active FROM items WHERE id = 'b'"))
            #expect(try other.decode("note", as: String.self) == quote)
            #expect(try !other.decode("active", as: Bool.self))
            let count = try #require(try await database.queryFirst("SELECT COUNT(*) AS n, SUM(quantity) AS total FROM items WHERE id = 'b'"))
            #expect(try count.decode("n", as: Int.self) == 1)
            #expect(try count.decode("total", as: Int64.self) == 0)
        }
    }

    /// A join's second table is read through its marker column where names repeat; on
    /// PostgreSQL each row keeps the cells as they came and decodes the ones that are read.
    @Test func aJoinReadsEachTableByItsMarker() async throws {
        try await withDatabase { database in
            try await database.execute("INSERT INTO items (id, quantity, active) VALUES ('a', 1, \(true)), ('b', 2, \(false))")
            let rows = try await database.query("""
                SELECT first.*, NULL AS second_columns, second.* FROM items first
                JOIN items second ON second.id <> first.id WHERE first.quantity > \(0) ORDER BY first.id
                """)
            #expect(try rows.map { try $0.decode("id", as: String.self) } == ["a", "b"])
            #expect(try rows.map { try $0.decode("quantity", as: Int64.self) } == [1, 2])
            let second = try rows.map { try $0.columns(from: "second_columns") }
            #expect(try second.map { try $0.decode("id", as: String.self) } == ["b", "a"])
            #expect(try second.map { try $0.decode("quantity", as: Int64.self) } == [2, 1])
            #expect(try second.map { try $0.decode("active", as: Bool.self) } == [false, true])
            #expect(try second[0].value("no_such_column") == nil)
            // A tail of a tail counts its offsets from where its parent starts.
            let quantities = try rows.map { try $0.columns(from: "second_columns").columns(from: "quantity") }
            #expect(try quantities.map { try $0.decode("quantity", as: Int64.self) } == [2, 1])
            #expect(try quantities.map { try $0.decode("active", as: Bool.self) } == [false, true])
            #expect(try quantities[0].value("id") == nil)
        }
    }

    @Test func decodingTheWrongTypeIsADecodingError() async throws {
        try await withDatabase { database in
            try await database.execute("INSERT INTO items (id, quantity, active) VALUES ('a', 1, \(true))")
            let row = try #require(try await database.queryFirst("SELECT id, quantity FROM items"))
            #expect(throws: DatabaseError.decoding(column: "id", expected: "Int", found: "text")) { try row.decode("id", as: Int.self) }
            #expect(throws: DatabaseError.self) { try row.decode("missing", as: Int.self) }
        }
    }

    @Test func constraintViolationsAreNamed() async throws {
        try await withDatabase { database in
            try await database.execute("INSERT INTO items (id, quantity, active) VALUES ('a', 1, \(true))")
            await #expect {
                try await database.execute("INSERT INTO items (id, quantity, active) VALUES ('a', 2, \(true))")
            } throws: { error in
                if case .uniqueViolation = error as? DatabaseError { return true }
                return false
            }
            await #expect {
                try await database.execute("INSERT INTO items (id, quantity, active) VALUES ('b', -1, \(true))")
            } throws: { error in
                if case .constraintViolation = error as? DatabaseError { return true }
                return false
            }
        }
    }

    @Test func transactionsCommitTogetherOrNotAtAll() async throws {
        try await withDatabase { database in
            try await database.transaction { transaction in
                try await transaction.execute("INSERT INTO items (id, quantity, active) VALUES ('a', 1, \(true))")
                try await transaction.execute("INSERT INTO items (id, quantity, active) VALUES ('b', 1, \(true))")
            }
            await #expect(throws: DatabaseError.self) {
                try await database.transaction { transaction in
                    try await transaction.execute("INSERT INTO items (id, quantity, active) VALUES ('c', 1, \(true))")
                    try await transaction.execute("INSERT INTO items (id, quantity, active) VALUES ('a', 1, \(true))")
                }
            }
            let ids = try await database.query("SELECT id FROM items ORDER BY id").map { try $0.decode("id", as: String.self) }
            #expect(ids == ["a", "b"])
        }
    }

    @Test func concurrentConditionalUpdatesNeverOvershoot() async throws {
        try await withDatabase { database in
            try await database.execute("INSERT INTO items (id, quantity, active) VALUES ('stock', 10, \(true))")
            // 40 tasks each try to take 1 of 10 with one conditional UPDATE: exactly 10 succeed.
            let successes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<40 {
                    group.addTask {
                        try await database.transaction { transaction in
                            let taken = try await transaction.query(
                                "UPDATE items SET quantity = quantity - 1 WHERE id = 'stock' AND quantity >= 1 RETURNING quantity")
                            return !taken.isEmpty
                        }
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(successes == 10)
            let left = try #require(try await database.queryFirst("SELECT quantity FROM items WHERE id = 'stock'"))
            #expect(try left.decode("quantity", as: Int.self) == 0)
        }
    }

    @Test func aClosedDatabaseSaysSo() async throws {
        try await withDatabase { database in
            await database.close()
            await #expect(throws: DatabaseError.unavailable("the database handle is closed")) {
                try await database.execute("SELECT 1")
            }
        }
    }

    /// Writes queued behind the writer when the database closes must each end, committed or
    /// refused as closed: none may be left waiting on a writer that has stopped.
    @Test func writesWaitingWhenTheDatabaseClosesAllEnd() async throws {
        try await withDatabase { database in
            let outcomes = await withTaskGroup(of: String.self) { group in
                for index in 0..<40 {
                    group.addTask {
                        do {
                            try await database.transaction { transaction in
                                try await transaction.execute("INSERT INTO items (id, quantity, active) VALUES (\("w\(index)"), 1, \(true))")
                                try await Task.sleep(for: .milliseconds(2))
                            }
                            return "committed"
                        } catch DatabaseError.unavailable {
                            return "closed"
                        } catch {
                            return "\(error)"
                        }
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(20))
                    await database.close()
                    return "close"
                }
                return await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
            }
            #expect(outcomes["close"] == 1)
            #expect((outcomes["committed"] ?? 0) + (outcomes["closed"] ?? 0) == 40, "\(outcomes)")
        }
    }

    @Test func sqlRendersPlaceholdersPerEngine() {
        let name = "x"
        let sql: SQL = "SELECT * FROM t WHERE a = \(name) AND b IN (\(1), \(2))"
        #expect(sql.rendered(for: .sqlite).text == "SELECT * FROM t WHERE a = ? AND b IN (?, ?)")
        #expect(sql.rendered(for: .postgres).text == "SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)")
        #expect(sql.rendered(for: .postgres).binds == [.text("x"), .integer(1), .integer(2)])
        let joined = SQL.joined(["a = \(1)", "b = \(2)"], separator: " AND ")
        #expect(("WHERE \(joined) LIMIT \(3)" as SQL).rendered(for: .postgres).text == "WHERE a = $1 AND b = $2 LIMIT $3")
    }
}

extension String {
    fileprivate func replacingDataType(_ dialect: SQLDialect) -> SQL {
        SQL(stringLiteral: replacingOccurrences(of: "BYTEA_OR_BLOB", with: dialect == .postgres ? "BYTEA" : "BLOB"))
    }
}

@Suite struct InMemorySQLiteTests {
    @Test func anInMemoryDatabaseWorksAndIsPrivateToItsHandle() async throws {
        var configuration = AppConfiguration()
        configuration.databaseURL = .sqliteMemory
        try await withDatabase(configuration, logger: Logger(label: "memory-test")) { database in
            try await database.transaction { transaction in
                try await transaction.execute("CREATE TABLE notes (body TEXT NOT NULL)")
                try await transaction.execute("INSERT INTO notes (body) VALUES (\("kept"))")
            }
            let rows = try await database.query("SELECT body FROM notes")
            #expect(try rows.map { try $0.decode("body", as: String.self) } == ["kept"])
        }
        try await withDatabase(configuration, logger: Logger(label: "memory-test")) { database in
            await #expect(throws: DatabaseError.self) { try await database.execute("SELECT body FROM notes") }
        }
    }
}

/// Through HTTP: a write that cannot get the SQLite file because another process holds it is
/// answered 503 `database-busy` with `Retry-After` once the wait runs out, and wrote nothing.
@Suite(.enabled(if: TestDatabase.dialect == .sqlite)) struct SQLiteBusyFileTests {
    @Test func aWriteBlockedByAnotherProcessIsAnswered503AndChangesNothing() async throws {
        try await withApp { app in
            guard case .sqliteFile(let path) = try DatabaseURL(parsing: app.database.displayName) else {
                Issue.record("not a file database")
                return
            }
            let other = try await SQLiteStorage.open(.sqliteFile(path: path), readerCount: 1, logger: Logger(label: "other"))
            let (held, holding) = AsyncStream.makeStream(of: Void.self)
            let (released, release) = AsyncStream.makeStream(of: Void.self)
            let holder = Task {
                try await other.transaction { db in
                    try await db.execute("UPDATE users SET name = name")
                    holding.yield()
                    for await _ in released { break }
                }
            }
            for await _ in held { break }
            let response = try await app.http.execute(
                uri: "/v1/carts", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"currency":"EUR"}"#))
            release.yield()
            try await holder.value
            await other.close()
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] == "1")
            let problem = try response.jsonObject()
            #expect(problem["type"] as? String == Problem.databaseBusy.type)
            #expect(problem["request_id"] as? String != nil)
            #expect(try await app.database.queryFirst("SELECT COUNT(*) AS n FROM carts")?.decode("n", as: Int.self) == 0)
        }
    }
}
