import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import Logging
import ServiceLifecycle
import Testing

@Suite struct MigrationTests {
    let logger = Logger(label: "migration-test")

    static let testMigrations: [Migration] = [
        Migration(version: 1, name: "widgets", ["CREATE TABLE widgets (id TEXT PRIMARY KEY, name TEXT NOT NULL)"]),
        Migration(version: 2, name: "widget sizes", ["ALTER TABLE widgets ADD COLUMN size BIGINT NOT NULL DEFAULT 0"]),
        Migration(version: 3, name: "gadgets", statements: { dialect in
            [
                "CREATE TABLE gadgets (id TEXT PRIMARY KEY, label TEXT NOT NULL)",
                dialect == .postgres ? "CREATE INDEX gadgets_label ON gadgets USING btree (label)" : "CREATE INDEX gadgets_label ON gadgets (label)",
            ]
        }),
    ]

    func open(_ url: DatabaseURL) async throws -> any Database {
        var configuration = AppConfiguration()
        configuration.databaseURL = url
        return try await openDatabase(configuration, logger: logger)
    }

    /// Runs `body` with `count` independent database handles on one database, each with
    /// its pool running, as separate nodes would have.
    func withHandles(_ url: DatabaseURL, count: Int, _ body: @escaping @Sendable ([any Database]) async throws -> Void) async throws {
        var handles: [any Database] = []
        for _ in 0..<count { handles.append(try await open(url)) }
        let all = handles
        try await withThrowingTaskGroup(of: Void.self) { group in
            for handle in all { group.addTask { try await handle.run() } }
            defer { group.cancelAll() }
            do {
                try await body(all)
            } catch {
                for handle in all { await handle.close() }
                throw error
            }
            for handle in all { await handle.close() }
        }
    }

    @Test func fourConcurrentMigratorsApplyEachMigrationExactlyOnce() async throws {
        try await TestDatabase.withFresh { url in
            try await withHandles(url, count: 4) { handles in
                let runner = MigrationRunner(migrations: Self.testMigrations, clock: SystemClock(), logger: logger)
                let appliedPerRunner = try await withThrowingTaskGroup(of: [Int].self) { group in
                    for handle in handles { group.addTask { try await runner.migrate(handle) } }
                    return try await group.reduce(into: [[Int]]()) { $0.append($1) }
                }
                #expect(appliedPerRunner.flatMap { $0 }.sorted() == [1, 2, 3])
                let rows = try await handles[0].query("SELECT version, COUNT(*) AS copies FROM schema_migrations GROUP BY version ORDER BY version")
                #expect(try rows.map { try $0.decode("version", as: Int.self) } == [1, 2, 3])
                #expect(try rows.allSatisfy { try $0.decode("copies", as: Int.self) == 1 })
                try await handles[1].execute("INSERT INTO widgets (id, name, size) VALUES ('w1', 'Widget', 3)")
                try await handles[2].execute("INSERT INTO gadgets (id, label) VALUES ('g1', 'Gadget')")
            }
        }
    }

    @Test func migratingAgainChangesNothing() async throws {
        try await TestDatabase.withFresh { url in
            try await withHandles(url, count: 1) { handles in
                let runner = MigrationRunner(migrations: Self.testMigrations, clock: SystemClock(), logger: logger)
                let result1 = try await runner.migrate(handles[0])
                #expect(result1 == [1, 2, 3])
                let result2 = try await runner.migrate(handles[0])
                #expect(result2 == [])
                let result3 = try await runner.pendingCount(handles[0])
                #expect(result3 == 0)
            }
        }
    }

    @Test func aNewerBinaryAppliesOnlyWhatIsNew() async throws {
        try await TestDatabase.withFresh { url in
            try await withHandles(url, count: 1) { handles in
                let old = MigrationRunner(migrations: Array(Self.testMigrations.prefix(1)), clock: SystemClock(), logger: logger)
                let result4 = try await old.migrate(handles[0])
                #expect(result4 == [1])
                let new = MigrationRunner(migrations: Self.testMigrations, clock: SystemClock(), logger: logger)
                let result5 = try await new.pendingCount(handles[0])
                #expect(result5 == 2)
                let result6 = try await new.migrate(handles[0])
                #expect(result6 == [2, 3])
            }
        }
    }

    /// A statement read before a migration widened its table (`SELECT *`) reads the new
    /// column after it: neither database's per-statement column names may go stale. Read in a
    /// transaction (on SQLite the writer connection, whose statement cache keeps the statement
    /// and its names) and on its own.
    @Test(.timeLimit(.minutes(10)), arguments: [true, false])
    func aSelectStarReadBeforeAMigrationSeesTheColumnItAdded(inTransaction: Bool) async throws {
        try await TestDatabase.withFresh { url in
            try await withHandles(url, count: 1) { handles in
                let db = handles[0]
                let first = MigrationRunner(migrations: Array(Self.testMigrations.prefix(1)), clock: SystemClock(), logger: logger)
                try await first.migrate(db)
                try await db.execute("INSERT INTO widgets (id, name) VALUES ('w1', 'Widget')")
                let id = "w1"
                let read: @Sendable () async throws -> [SQLRow] = {
                    let sql: SQL = "SELECT * FROM widgets WHERE id = \(id)"
                    return inTransaction ? try await db.transaction { tx in try await tx.query(sql) } : try await db.query(sql)
                }
                let before = try await read()
                #expect(try before.first?.decode("name", as: String.self) == "Widget")
                try await MigrationRunner(migrations: Array(Self.testMigrations.prefix(2)), clock: SystemClock(), logger: logger).migrate(db)
                // PostgreSQL refuses a prepared plan whose result changed shape, as a conflict:
                // the connection is dropped and the statement retried on a fresh one.
                let postgres = db.dialect == .postgres ? try #require(db as? PostgresStorage) : nil
                let retriesBefore = postgres?.conflictRetries
                let after = try await read()
                if let postgres, let retriesBefore {
                    // The stale plan was met and run again, not missed on another connection.
                    #expect(postgres.conflictRetries == retriesBefore + 1)
                }
                #expect(try after.first?.decode("size", as: Int.self) == 0)
                #expect(try after.first?.decode("name", as: String.self) == "Widget")
            }
        }
    }

    @Test func anOlderBinaryRefusesADatabaseMigratedByANewerOne() async throws {
        try await TestDatabase.withFresh { url in
            try await withHandles(url, count: 1) { handles in
                let new = MigrationRunner(migrations: Self.testMigrations, clock: SystemClock(), logger: logger)
                try await new.migrate(handles[0])
                let old = MigrationRunner(migrations: Array(Self.testMigrations.prefix(2)), clock: SystemClock(), logger: logger)
                await #expect(throws: MigrationError.databaseIsNewer(databaseVersion: 3, binaryVersion: 2)) {
                    try await old.migrate(handles[0])
                }
                await #expect(throws: MigrationError.databaseIsNewer(databaseVersion: 3, binaryVersion: 2)) {
                    try await old.pendingCount(handles[0])
                }
                let message = MigrationError.databaseIsNewer(databaseVersion: 3, binaryVersion: 2).description
                #expect(message.contains("version 3") && message.contains("newer emporium"))
            }
        }
    }

    @Test func aDatabaseFromAnotherBuildIsRefused() async throws {
        try await TestDatabase.withFresh { url in
            try await withHandles(url, count: 1) { handles in
                try await MigrationRunner(migrations: Self.testMigrations, clock: SystemClock(), logger: logger).migrate(handles[0])
                var renamed = Self.testMigrations
                renamed[1] = Migration(version: 2, name: "something else", ["SELECT 1"])
                await #expect(throws: MigrationError.mismatch(version: 2, recorded: "widget sizes", expected: "something else")) {
                    try await MigrationRunner(migrations: renamed, clock: SystemClock(), logger: logger).migrate(handles[0])
                }
            }
        }
    }

    @Test func aFailingMigrationLeavesNothingBehind() async throws {
        try await TestDatabase.withFresh { url in
            try await withHandles(url, count: 1) { handles in
                let broken = [
                    Self.testMigrations[0],
                    Migration(version: 2, name: "half done", [
                        "CREATE TABLE half (id TEXT PRIMARY KEY)", "INSERT INTO no_such_table VALUES (1)",
                    ]),
                ]
                await #expect(throws: DatabaseError.self) {
                    try await MigrationRunner(migrations: broken, clock: SystemClock(), logger: logger).migrate(handles[0])
                }
                let versions = try await handles[0].query("SELECT version FROM schema_migrations")
                #expect(try versions.map { try $0.decode("version", as: Int.self) } == [1])
                // The table from the failed migration was rolled back with it.
                await #expect(throws: DatabaseError.self) { try await handles[0].execute("SELECT * FROM half") }
            }
        }
    }

    @Test func gapsInTheListAreRejectedBeforeTouchingTheDatabase() async throws {
        try await TestDatabase.withFresh { url in
            try await withHandles(url, count: 1) { handles in
                let gappy = [Self.testMigrations[0], Self.testMigrations[2]]
                await #expect(throws: MigrationError.self) {
                    try await MigrationRunner(migrations: gappy, clock: SystemClock(), logger: logger).migrate(handles[0])
                }
            }
        }
    }

    @Test func theApplicationMigratesItsOwnSchemaAtStartUp() async throws {
        try await withApp { app in
            let rows = try await app.database.query("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
            #expect(rows.count >= 1)
            #expect(try rows[0].decode("name", as: String.self) == "outbox and jobs")
            #expect(Timestamp.date(from: try rows[0].decode("applied_at")) != nil)
        }
    }
}
