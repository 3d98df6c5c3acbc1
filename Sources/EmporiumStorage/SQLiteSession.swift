import Foundation

/// Transactions on the writer connection, and retrying while another process holds the file.
extension SQLiteStorage {
    /// Runs `attempt` until it is not refused as busy (another process holds the file's
    /// lock), sleeping between tries without holding a thread, for at most `busyLimit`.
    static func retryingWhileBusy<Result>(
        for busyLimit: Duration, _ attempt: () throws(DatabaseError) -> Result
    ) async throws(DatabaseError) -> Result {
        let clock = ContinuousClock()
        let deadline = clock.now + busyLimit
        var delay = Duration.milliseconds(1)
        while true {
            do {
                return try attempt()
            } catch .transactionConflict where clock.now < deadline {
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .milliseconds(100))
            }
        }
    }

    static func transaction<Result>(
        on handle: SQLiteHandle, busyLimit: Duration, _ body: (any SQLExecutor) async throws -> Result
    ) async throws -> Result {
        // IMMEDIATE takes the write lock up front, so two processes on one file cannot both
        // read and then fail to upgrade.
        try await retryingWhileBusy(for: busyLimit) { () throws(DatabaseError) in _ = try handle.run("BEGIN IMMEDIATE") }
        let result: Result
        do {
            result = try await body(SQLiteSession(handle: handle, busyLimit: busyLimit))
        } catch {
            _ = try? handle.run("ROLLBACK")
            throw error
        }
        do {
            try await retryingWhileBusy(for: busyLimit) { () throws(DatabaseError) in _ = try handle.run("COMMIT") }
        } catch {
            _ = try? handle.run("ROLLBACK")
            throw error
        }
        return result
    }
}

/// The writer connection while its holder has the writer lock.
struct SQLiteSession: DatabaseConnection {
    let handle: SQLiteHandle
    let busyLimit: Duration
    var dialect: SQLDialect { .sqlite }

    func query(_ sql: SQL) async throws(DatabaseError) -> [SQLRow] {
        if handle.isInTransaction { return try handle.run(sql) }
        return try await SQLiteStorage.retryingWhileBusy(for: busyLimit) { () throws(DatabaseError) in try handle.run(sql) }
    }

    func transaction<Result: Sendable>(_ body: (any SQLExecutor) async throws -> Result) async throws -> Result {
        try await SQLiteStorage.transaction(on: handle, busyLimit: busyLimit, body)
    }
}
