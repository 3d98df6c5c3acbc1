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
    /// table it works on, e.g. `SELECT products` or `INSERT orders`. A statement with
    /// data-modifying CTEs is named by its writes in order (`INSERT orders; INSERT order_lines`),
    /// since its first keyword, `WITH`, says nothing. Made from the statement's text alone,
    /// never from its bound values.
    public var statementName: String {
        let words = nameWords()
        guard let verb = words.first?.text.uppercased() else { return "SQL" }
        func name(_ verb: String, at index: Int) -> String {
            func after(_ keyword: String) -> Substring? {
                guard let found = words[(index + 1)...].firstIndex(where: { $0.text.uppercased() == keyword }),
                    found + 1 < words.count
                else { return nil }
                return words[found + 1].text
            }
            let table: Substring? =
                switch verb {
                case "INSERT": after("INTO")
                case "UPDATE": index + 1 < words.count ? words[index + 1].text : nil
                case "SELECT", "DELETE", "WITH": after("FROM")
                default: nil
                }
            guard let table, let first = table.first, first.isLetter || first == "_" || first == "\"" else { return verb }
            return verb + " " + table.filter { $0 != "\"" }
        }
        guard verb == "WITH" else { return name(verb, at: 0) }
        let writeVerbs: Set<String> = ["INSERT", "UPDATE", "DELETE"]
        // A CTE's body opens right after its `AS (`; the main statement is the first verb outside
        // every parenthesis. Other verbs (`DO UPDATE`, `FOR UPDATE`) are clauses, not writes.
        let main = words.indices.dropFirst().first { words[$0].depth == 0 && (writeVerbs.contains(words[$0].text.uppercased()) || words[$0].text.uppercased() == "SELECT") }
        let writes = words.indices.filter { index in
            guard writeVerbs.contains(words[index].text.uppercased()) else { return false }
            if index == main { return true }
            return words[index].depth == 1 && ["AS", "MATERIALIZED"].contains(words[index - 1].text.uppercased())
        }
        guard !writes.isEmpty else { return name(verb, at: 0) }
        return writes.map { name(words[$0].text.uppercased(), at: $0) }.joined(separator: "; ")
    }

    /// The words of the statement's text with how deep in parentheses each stands. A statement
    /// names its verbs and tables early; long texts (many rows of VALUES) are not read whole.
    /// Read as bytes, since every traced statement is named: separators are ASCII, and any
    /// other byte (of a non-ASCII identifier) belongs to a word.
    private func nameWords() -> [(text: Substring, depth: Int)] {
        var words: [(text: Substring, depth: Int)] = []
        var length = 0
        var depth = 0
        for case .text(let part) in fragments {
            guard length < 2_000 else { break }
            length += part.utf8.count
            var wordStart: String.Index?
            for index in part.utf8.indices {
                let byte = part.utf8[index]
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                    UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "\""), 0x80...:
                    if wordStart == nil { wordStart = index }
                    continue
                default:
                    if let start = wordStart { words.append((part[start..<index], depth)) }
                    wordStart = nil
                    if byte == UInt8(ascii: "(") { depth += 1 } else if byte == UInt8(ascii: ")") { depth -= 1 }
                }
            }
            if let start = wordStart { words.append((part[start...], depth)) }
        }
        return words
    }
}
