import Logging
public import ServiceLifecycle

/// Something statements run on: the database as a whole, one connection, or an open
/// transaction. Stores are written against this, so the same store code runs inside or
/// outside a transaction.
public protocol SQLExecutor: Sendable {
    var dialect: SQLDialect { get }
    func query(_ sql: SQL) async throws(DatabaseError) -> [SQLRow]
}

extension SQLExecutor {
    /// Runs a statement whose rows, if any, are not needed.
    public func execute(_ sql: SQL) async throws(DatabaseError) {
        _ = try await query(sql)
    }

    /// The first row, or `nil` when there is none.
    public func queryFirst(_ sql: SQL) async throws(DatabaseError) -> SQLRow? {
        try await query(sql).first
    }
}

/// One connection held for a while, for work that must stay on one session (an advisory
/// lock, then several transactions).
public protocol DatabaseConnection: SQLExecutor {
    /// Runs `body` in a transaction on this connection: committed when it returns,
    /// rolled back when it throws.
    func transaction<Result: Sendable>(
        _ body: (any SQLExecutor) async throws -> Result
    ) async throws -> Result
}

/// The database handle the application holds: a pool over SQLite or PostgreSQL.
///
/// It is a `Service`: run it in the service group, which keeps the pool alive and closes
/// every connection on shutdown.
public protocol Database: SQLExecutor, Service {
    /// What to say about this database in a log line: engine and location, never a password.
    var displayName: String { get }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    func transaction<Result: Sendable>(
        _ body: (any SQLExecutor) async throws -> Result
    ) async throws -> Result

    /// Holds one connection for the duration of `body`.
    func withConnection<Result: Sendable>(
        _ body: (any DatabaseConnection) async throws -> Result
    ) async throws -> Result

    /// Pool figures for /metrics.
    var statistics: DatabaseStatistics { get }

    /// Calls `onNotification` for every notification on `channel` from any node, until the
    /// task is cancelled or the connection fails (then it throws; callers reconnect).
    /// `onListening` runs once the subscription is in place. SQLite has none: there it only
    /// waits to be cancelled, and whoever must see other processes' writes polls for them.
    func listen(
        on channel: String, onListening: @Sendable () -> Void, onNotification: @escaping @Sendable () -> Void
    ) async throws

    /// Closes every connection; later calls fail with `DatabaseError.unavailable`.
    func close() async
}

/// A snapshot of a pool's figures.
public struct DatabaseStatistics: Sendable, Equatable {
    /// Connections the pool may open.
    public var maximumConnections: Int
    /// Statements and transactions running now.
    public var inUse: Int
    /// Callers waiting for a connection (SQLite: for the single writer).
    public var waiting: Int

    public init(maximumConnections: Int, inUse: Int, waiting: Int) {
        self.maximumConnections = maximumConnections
        self.inUse = inUse
        self.waiting = waiting
    }
}

extension SQL {
    /// A short name for traces and the slow-query log: the statement's first keyword and the
    /// table it works on, e.g. `SELECT products` or `INSERT orders`. Made from the statement's
    /// text alone, never from its bound values.
    public var statementName: String {
        var words: [Substring] = []
        var length = 0
        for case .text(let part) in fragments {
            // A statement names its verb and table early; long texts need not be read whole.
            guard length < 600 else { break }
            length += part.utf8.count
            words += part.split { !($0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "\"") }
        }
        guard var verb = words.first?.uppercased() else { return "SQL" }
        func after(_ keyword: String, from start: Int) -> Substring? {
            guard start < words.count,
                let index = words[start...].firstIndex(where: { $0.uppercased() == keyword }),
                index + 1 < words.count
            else { return nil }
            return words[index + 1]
        }
        var start = 1
        // A data-modifying CTE is named after its first write, which is what it is for.
        if verb == "WITH", let write = words.firstIndex(where: { ["INSERT", "UPDATE", "DELETE"].contains($0.uppercased()) }) {
            verb = words[write].uppercased()
            start = write + 1
        }
        let table: Substring? =
            switch verb {
            case "INSERT": after("INTO", from: start)
            case "UPDATE": start < words.count ? words[start] : nil
            case "SELECT", "DELETE", "WITH": after("FROM", from: start)
            default: nil
            }
        guard let table, let first = table.first, first.isLetter || first == "_" || first == "\"" else { return verb }
        return verb + " " + table.filter { $0 != "\"" }
    }
}
