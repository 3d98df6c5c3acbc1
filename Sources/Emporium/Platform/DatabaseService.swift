import EmporiumStorage
import Logging
import ServiceLifecycle

/// Runs a database's pool as a service and says once it has started. Nothing may use the
/// database before: postgres-nio's pool makes no connection until its `run()` runs (a lease
/// before then waits, and the driver logs a warning about it).
struct DatabaseService: Service {
    let database: any Database
    /// Opens as the pool starts running.
    let started = StartGate()

    func run() async throws {
        started.open()
        try await database.run()
    }

    /// Waits until the pool runs; throws `CancellationError` when the process stops first.
    func waitUntilRunning() async throws {
        guard await started.wait() else { throw CancellationError() }
    }
}

/// Opens the read pool `--database-read-url` names, or nil without one. Start-up has checked
/// that both URLs are PostgreSQL.
func openReadDatabase(_ configuration: AppConfiguration, logger: Logger) async throws(DatabaseError) -> (any Database)? {
    guard let url = configuration.databaseReadURL else { return nil }
    guard case .postgres(let location) = url else { return nil }
    try await location.checkReachable(logger: logger)
    return try PostgresStorage(location, maximumConnections: configuration.postgresPoolSize, logger: logger)
}
