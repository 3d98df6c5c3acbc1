public import EmporiumCore
public import Logging

/// Brings a database's schema up to date, exactly once even when many nodes start at once.
///
/// Applied migrations are rows in `schema_migrations`. On PostgreSQL the whole run holds a
/// session advisory lock, so concurrent runners wait and then find nothing left to do; on
/// SQLite each migration's `BEGIN IMMEDIATE` transaction excludes other processes. Either
/// way each migration re-checks inside its own transaction that it is still pending, and
/// its statements and its record commit together.
public struct MigrationRunner: Sendable {
    /// The advisory lock: a constant naming Emporium's migrations ("EMPO" as an int4) and
    /// the schema, so that databases in separate schemas migrate independently.
    static let lockArguments: SQL = "1162694735, hashtext(current_schema())"

    public let migrations: [Migration]
    let clock: any WallClock
    let logger: Logger

    public init(migrations: [Migration], clock: any WallClock, logger: Logger) {
        self.migrations = migrations
        self.clock = clock
        self.logger = logger
    }

    public var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Applies what is pending and returns the versions this call applied.
    @discardableResult
    public func migrate(_ database: any Database) async throws -> [Int] {
        try validateSequence()
        return try await database.withConnection { connection in
            if connection.dialect == .postgres {
                try await connection.execute("SELECT pg_advisory_lock(\(Self.lockArguments))")
            }
            do {
                // Under the lock: concurrent CREATE TABLE IF NOT EXISTS can collide on PostgreSQL.
                try await createLedger(on: connection)
                let applied = try await applyPending(on: connection)
                if connection.dialect == .postgres {
                    try await connection.execute("SELECT pg_advisory_unlock(\(Self.lockArguments))")
                }
                return applied
            } catch {
                if connection.dialect == .postgres {
                    try? await connection.execute("SELECT pg_advisory_unlock(\(Self.lockArguments))")
                }
                throw error
            }
        }
    }

    /// Fails when the database is ahead of this binary or disagrees with it, without
    /// changing anything; returns the number of pending migrations.
    public func pendingCount(_ database: any Database) async throws -> Int {
        try validateSequence()
        let recorded = try await recordedMigrations(on: database)
        try check(recorded)
        return migrations.filter { recorded[$0.version] == nil }.count
    }

    private func applyPending(on connection: any DatabaseConnection) async throws -> [Int] {
        try check(try await recordedMigrations(on: connection))
        var applied: [Int] = []
        for migration in migrations {
            let started = ContinuousClock.now
            let didApply = try await connection.transaction { transaction in
                let existing = try await transaction.queryFirst(
                    "SELECT name FROM schema_migrations WHERE version = \(migration.version)")
                guard existing == nil else { return false }
                for statement in migration.statements(transaction.dialect) {
                    try await transaction.execute(statement)
                }
                try await transaction.execute("""
                    INSERT INTO schema_migrations (version, name, applied_at)
                    VALUES (\(migration.version), \(migration.name), \(clock.now()))
                    """)
                return true
            }
            if didApply {
                applied.append(migration.version)
                logger.info(
                    "applied migration",
                    metadata: [
                        "version": "\(migration.version)", "name": "\(migration.name)",
                        "duration_ms": .string((ContinuousClock.now - started).loggedMilliseconds),
                    ])
            }
        }
        return applied
    }

    private func createLedger(on executor: any SQLExecutor) async throws {
        try await executor.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at TEXT NOT NULL
            )
            """)
    }

    private func recordedMigrations(on executor: any SQLExecutor) async throws -> [Int: String] {
        let exists: SQL =
            switch executor.dialect {
            case .sqlite: "SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
            case .postgres: "SELECT 1 AS found FROM pg_tables WHERE tablename = 'schema_migrations' AND schemaname = current_schema()"
            }
        guard try await executor.queryFirst(exists) != nil else { return [:] }
        var recorded: [Int: String] = [:]
        for row in try await executor.query("SELECT version, name FROM schema_migrations") {
            recorded[try row.decode("version")] = try row.decode("name", as: String.self)
        }
        return recorded
    }

    private func check(_ recorded: [Int: String]) throws(MigrationError) {
        if let newest = recorded.keys.max(), newest > latestVersion {
            throw .databaseIsNewer(databaseVersion: newest, binaryVersion: latestVersion)
        }
        for migration in migrations {
            if let name = recorded[migration.version], name != migration.name {
                throw .mismatch(version: migration.version, recorded: name, expected: migration.name)
            }
        }
    }

    private func validateSequence() throws(MigrationError) {
        for (index, migration) in migrations.enumerated() where migration.version != index + 1 {
            throw .invalidSequence("expected version \(index + 1), found \(migration.version) (\(migration.name))")
        }
    }
}
