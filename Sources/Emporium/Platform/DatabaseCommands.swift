public import EmporiumStorage
public import Logging
import ServiceLifecycle

/// Opens the configured database for a one-off command (migrate, import, seed), keeps its
/// pool running while `body` works, and closes it afterwards.
@discardableResult
public func withDatabase<Result: Sendable>(
    _ configuration: AppConfiguration, logger: Logger,
    _ body: @escaping @Sendable (any Database) async throws -> Result
) async throws -> Result {
    let database = try await openDatabase(configuration, logger: logger)
    let service = DatabaseService(database: database)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await service.run() }
        defer { group.cancelAll() }
        do {
            try await service.waitUntilRunning()
            let result = try await body(database)
            await database.close()
            return result
        } catch {
            await database.close()
            throw error
        }
    }
}

/// Applies pending migrations, then looks after the planner's statistics
/// (`updatePlannerStatistics(afterMigrations:on:)`); returns the versions applied.
public func migrate(_ database: any Database, logger: Logger) async throws -> [Int] {
    try await migrate(database, with: MigrationRunner(migrations: Migrations.all, clock: SystemClock(), logger: logger))
}

/// The one way to migrate, for the `migrate` command and every node's start-up. Schema changes
/// and statistics are slow by nature (a CREATE on a new SQLite file waits for its first fsync)
/// and each migration's own line says how long it took, so they stay out of the slow-query
/// log, which is about what the shop asks of its database.
func migrate(_ database: any Database, with migrator: MigrationRunner) async throws -> [Int] {
    let database = database.unobserved
    let applied = try await migrator.migrate(database)
    try await updatePlannerStatistics(afterMigrations: applied, on: database)
    return applied
}

/// After migrating (commands and every node's start-up): an upgrade, which may have filled
/// or rewritten tables, refreshes the statistics; a fresh install (migration 1 applied just
/// now) has no rows to sample, and a node whose schema was current only tidies them.
public func updatePlannerStatistics(afterMigrations applied: [Int], on db: any SQLExecutor) async throws {
    if let first = applied.first, first > 1 {
        try await refreshPlannerStatistics(on: db)
    } else {
        try await tidyPlannerStatistics(on: db)
    }
}

/// The one rule for the query planner's statistics after loading data in bulk (seed, CSV
/// import, migrations): without them PostgreSQL plans a freshly filled catalog as if it were
/// empty (sequential scans and hash joins over every price), and a new SQLite file has no
/// `sqlite_stat1` at all.
///
/// PostgreSQL: `ANALYZE` of the tables in the current schema only (one statement), so that a
/// database holding other schemas is left alone; it samples at most 30,000 rows per table and
/// takes no lock that blocks reads or writes. SQLite: `ANALYZE` with `analysis_limit` (about
/// a thousand rows per index), so it stays quick on a large file, then `PRAGMA optimize`.
/// SQLite connections that were open before read the new statistics when they next load
/// the schema; connections opened afterwards use them at once.
public func refreshPlannerStatistics(on db: any SQLExecutor) async throws {
    switch db.dialect {
    case .postgres:
        let tables = try await db.query("""
            SELECT quote_ident(tablename) AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename
            """).map { try $0.decode("name", as: String.self) }
        guard !tables.isEmpty else { return }
        try await db.execute("ANALYZE \(unsafeRaw: tables.joined(separator: ", "))")
    case .sqlite:
        try await db.execute("PRAGMA analysis_limit = 1000")
        try await db.execute("ANALYZE")
        try await db.execute("PRAGMA optimize")
    }
}

/// What a serving node runs after its migrations: cheap upkeep of the planner's statistics.
/// SQLite: `PRAGMA optimize=0x10002`, which re-analyzes only tables whose size changed a lot
/// since their statistics were taken (milliseconds; SQLite's advice for long-lived
/// connections). PostgreSQL: nothing; its autovacuum daemon keeps statistics current.
public func tidyPlannerStatistics(on db: any SQLExecutor) async throws {
    guard db.dialect == .sqlite else { return }
    try await db.execute("PRAGMA analysis_limit = 1000")
    try await db.execute("PRAGMA optimize = 0x10002")
}

/// Re-encrypts personal data sealed with any key but the first in the key file; returns how
/// many rows changed.
public func rotateEncryptionKeys(_ configuration: AppConfiguration, database: any Database) async throws -> Int {
    try KeyFileCheck.encryptionKeys(configuration)
    let cipher = try EncryptionKeySource.load(configuration)
    return try await database.transaction { db in
        let addresses = try await AddressStore(cipher: cipher).rotate(on: db)
        let secrets = try await TwoFactor(cipher: cipher, clock: SystemClock()).rotate(on: db)
        let carts = try await cipher.rotate(table: "carts", column: "shipping_address", context: CartStore.addressContext, on: db)
        let orders = try await cipher.rotate(table: "orders", column: "shipping_address", context: OrderStore.addressContext, on: db)
        let webhooks = try await cipher.rotate(
            table: "webhook_endpoints", column: "secret", context: WebhookStore.secretContext, on: db)
        let previousWebhooks = try await cipher.rotate(
            table: "webhook_endpoints", column: "previous_secret", context: WebhookStore.previousSecretContext, on: db)
        return addresses + secrets + carts + orders + webhooks + previousWebhooks
    }
}

/// How many migrations are pending, without applying any.
public func pendingMigrations(_ database: any Database, logger: Logger) async throws -> Int {
    try await MigrationRunner(migrations: Migrations.all, clock: SystemClock(), logger: logger).pendingCount(database)
}

import EmporiumCore
