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
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await database.run() }
        defer { group.cancelAll() }
        do {
            let result = try await body(database)
            await database.close()
            return result
        } catch {
            await database.close()
            throw error
        }
    }
}

/// Applies pending migrations; returns the versions applied.
public func migrate(_ database: any Database, logger: Logger) async throws -> [Int] {
    try await MigrationRunner(migrations: Migrations.all, clock: SystemClock(), logger: logger).migrate(database)
}

/// Re-encrypts personal data sealed with any key but the first in the key file; returns how
/// many rows changed.
public func rotateEncryptionKeys(_ configuration: AppConfiguration, database: any Database) async throws -> Int {
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
