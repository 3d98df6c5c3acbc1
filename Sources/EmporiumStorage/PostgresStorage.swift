import Foundation
public import Logging
import NIOSSL
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// PostgreSQL through postgres-nio's `PostgresClient` pool, for production and for running
/// several API nodes against one database.
public final class PostgresStorage: Database {
    public let dialect = SQLDialect.postgres
    public let displayName: String

    private let client: PostgresClient
    private let configuration: PostgresClient.Configuration
    private let location: DatabaseURL.PostgresLocation
    private let maximumConnections: Int
    private let active = Atomic<Int>(0)
    private let isClosed = Atomic<Bool>(false)
    private let logger: Logger

    /// Prepares the pool; connections are made once `run()` runs in the service group.
    public init(
        _ location: DatabaseURL.PostgresLocation,
        maximumConnections: Int = 16,
        connectTimeout: Duration = .seconds(10),
        logger: Logger
    ) throws(DatabaseError) {
        var configuration: PostgresClient.Configuration
        let tls = location.clientTLS
        if let socket = location.unixSocketPath {
            configuration = .init(
                unixSocketPath: socket, username: location.username, password: location.password,
                database: location.database)
        } else {
            configuration = .init(
                host: location.host, port: location.port, username: location.username,
                password: location.password, database: location.database, tls: tls)
        }
        configuration.options.maximumConnections = max(1, maximumConnections)
        configuration.options.connectTimeout = connectTimeout
        if let schema = location.schema {
            configuration.options.additionalStartupParameters = [("search_path", schema)]
        }
        self.configuration = configuration
        self.location = location
        self.maximumConnections = max(1, maximumConnections)
        self.displayName = DatabaseURL.postgres(location).description
        self.logger = logger
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    /// Opens and closes one connection outside the pool, so that a wrong address, password
    /// or database name is reported at start-up with the server's own reason rather than
    /// as requests that wait for a pool that never fills.
    public func checkReachable() async throws(DatabaseError) {
        var connectionConfiguration: PostgresConnection.Configuration
        if let socket = location.unixSocketPath {
            connectionConfiguration = .init(
                unixSocketPath: socket, username: location.username,
                password: location.password, database: location.database)
        } else {
            let tls = try location.connectionTLS()
            connectionConfiguration = .init(
                host: location.host, port: location.port, username: location.username,
                password: location.password, database: location.database, tls: tls)
        }
        connectionConfiguration.options.connectTimeout = .init(configuration.options.connectTimeout)
        do {
            let connection = try await PostgresConnection.connect(
                configuration: connectionConfiguration, id: 0, logger: logger)
            try await connection.close()
        } catch {
            throw .unavailable("cannot connect to \(displayName): \(Self.reason(error))")
        }
    }

    // MARK: Database

    /// A statement on its own (its own transaction), again from the start after a conflict
    /// as `transaction` does: a stale plan, a serialization failure or a deadlock leaves
    /// nothing of it applied.
    public func query(_ sql: SQL) async throws(DatabaseError) -> [SQLRow] {
        do {
            return try await retryingConflicts {
                try await withConnection { connection in try await connection.query(sql) }
            }
        } catch {
            throw DatabaseError(postgres: error)
        }
    }

    /// Runs `body` in a transaction, again from the start when PostgreSQL aborts it for a
    /// serialization failure, a deadlock or a stale plan (40001, 40P01, 0A000).
    public func transaction<Result: Sendable>(
        _ body: (any SQLExecutor) async throws -> Result
    ) async throws -> Result {
        try await retryingConflicts {
            try await withConnection { connection in
                try await connection.transaction(body)
            }
        }
    }

    /// Runs `work` up to `conflictAttempts` times while it fails with a conflict, with a
    /// jittered pause between attempts; after that the conflict is the caller's (answered 503).
    private func retryingConflicts<Result: Sendable>(
        _ work: () async throws -> Result
    ) async throws -> Result {
        var attempt = 1
        while true {
            do {
                return try await work()
            } catch DatabaseError.transactionConflict where attempt < Self.conflictAttempts {
                conflictsRetried.add(1, ordering: .relaxed)
                // A request cancelled during the pause gets the conflict (503), not a fault.
                do {
                    try await Task.sleep(for: .milliseconds(Int.random(in: 1...(10 << attempt))))
                } catch {
                    throw DatabaseError.transactionConflict
                }
                attempt += 1
            }
        }
    }

    static let conflictAttempts = 5

    /// Transactions and single statements run again after a conflict, since start-up.
    public var conflictRetries: Int { conflictsRetried.load(ordering: .relaxed) }
    private let conflictsRetried = Atomic<Int>(0)

    public func withConnection<Result: Sendable>(
        _ body: (any DatabaseConnection) async throws -> Result
    ) async throws -> Result {
        try checkOpen()
        active.add(1, ordering: .relaxed)
        defer { active.subtract(1, ordering: .relaxed) }
        do {
            return try await client.withConnection { connection in
                try await body(PostgresSession(connection: connection, logger: logger))
            }
        } catch let error as PSQLError {
            throw DatabaseError(postgres: error)
        }
    }

    public var statistics: DatabaseStatistics {
        let inUse = active.load(ordering: .relaxed)
        return DatabaseStatistics(
            maximumConnections: maximumConnections,
            inUse: min(inUse, maximumConnections),
            waiting: max(0, inUse - maximumConnections))
    }

    /// Holds one pooled connection for as long as it listens.
    public func listen(
        on channel: String, onListening: @Sendable () -> Void, onNotification: @escaping @Sendable () -> Void
    ) async throws {
        try checkOpen()
        do {
            try await client.withConnection { connection in
                try await connection.listen(on: channel) { notifications in
                    onListening()
                    for try await _ in notifications { onNotification() }
                }
            }
        } catch let error as PSQLError {
            throw DatabaseError(postgres: error)
        }
    }

    /// Runs the pool until graceful shutdown, which closes its connections.
    public func run() async throws {
        await client.run()
    }

    public func close() async {
        isClosed.store(true, ordering: .relaxed)
    }

    // MARK: Internals

    private func checkOpen() throws(DatabaseError) {
        if isClosed.load(ordering: .relaxed) { throw .unavailable("the database handle is closed") }
    }

    static func postgresQuery(_ sql: SQL) -> PostgresQuery {
        let (text, values) = sql.rendered(for: .postgres)
        var binds = PostgresBindings(capacity: values.count)
        for value in values {
            switch value {
            case .null: binds.appendNull()
            case .integer(let integer): binds.append(integer)
            case .real(let real): binds.append(real)
            case .text(let text): binds.append(text)
            case .bool(let bool): binds.append(bool)
            case .blob(let bytes): binds.append(ByteBuffer(bytes: bytes))
            }
        }
        return PostgresQuery(unsafeSQL: text, binds: binds)
    }

    /// Reads the rows, whose cells are decoded when they are read; `statement` names a
    /// prepared statement whose column index, made on its first result, serves its later
    /// ones as long as the names are the same.
    static func collect<Rows: AsyncSequence>(
        _ sequence: Rows, statement: String? = nil
    ) async throws -> [SQLRow] where Rows.Element == PostgresRow {
        var rows: [SQLRow] = []
        var columns: SQLColumnIndex?
        for try await row in sequence {
            let cells = PostgresRandomAccessRow(row)
            if columns == nil { columns = columnIndex(names: cells.map(\.columnName), statement: statement) }
            rows.append(SQLRow(columns: columns!, postgres: cells))
        }
        return rows
    }

    /// Prepared statements' column indexes by statement name. Statement texts are written in
    /// the code, so they are few; texts that vary (an `IN` list's length) could grow it
    /// without end, so past this many it starts over.
    private static let columnIndexes = Mutex<[String: SQLColumnIndex]>([:])
    private static let columnIndexLimit = 1_024

    private static func columnIndex(names: [String], statement: String?) -> SQLColumnIndex {
        guard let statement else { return SQLColumnIndex(names: names) }
        // The names are compared, not trusted: a migration can change what `*` expands to.
        if let known = columnIndexes.withLock({ $0[statement] }), known.names == names { return known }
        let index = SQLColumnIndex(names: names)
        columnIndexes.withLock { indexes in
            if indexes.count >= columnIndexLimit { indexes.removeAll(keepingCapacity: true) }
            indexes[statement] = index
        }
        return index
    }

    /// Whether PostgreSQL refused a prepared statement because a table it reads changed shape.
    static func isStalePlan(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError, error.serverInfo?[.sqlState] == "0A000" else { return false }
        return error.serverInfo?[.message]?.contains("cached plan") ?? false
    }

    /// The server's or the network's reason, without the statement or its values.
    static func reason(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            if let underlying = error.underlying { return "\(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }
}

/// One leased PostgreSQL connection.
struct PostgresSession: DatabaseConnection {
    let connection: PostgresConnection
    let logger: Logger
    var dialect: SQLDialect { .postgres }

    func query(_ sql: SQL) async throws(DatabaseError) -> [SQLRow] {
        // postgres-nio drops a statement written to a closed channel without failing it, so
        // the caller would wait for ever; this connection may have been closed below, or by
        // the server, while a transaction still had statements (its ROLLBACK) to send. A close
        // by the server between this check and the write can still lose the statement.
        guard !connection.isClosed else { throw .unavailable("the connection to PostgreSQL was closed") }
        do {
            return try await connection.rows(sql, logger: logger)
        } catch {
            let failure = DatabaseError(postgres: error)
            if failure == .transactionConflict, PostgresStorage.isStalePlan(error) {
                // A migration changed a table under a statement this connection prepared;
                // the statement stays broken on this connection, so close it: the pool opens
                // a new one, and the transaction's retry runs there.
                try? await connection.close()
            }
            throw failure
        }
    }

    func transaction<Result: Sendable>(_ body: (any SQLExecutor) async throws -> Result) async throws -> Result {
        try await execute("BEGIN")
        let result: Result
        do {
            result = try await body(self)
        } catch {
            try? await execute("ROLLBACK")
            throw error
        }
        do {
            try await execute("COMMIT")
        } catch {
            try? await execute("ROLLBACK")
            throw error
        }
        return result
    }
}

extension SQLValue {
    init(_ cell: PostgresCell) throws {
        guard cell.bytes != nil else {
            self = .null
            return
        }
        switch cell.dataType {
        case .int2, .int4, .int8:
            self = .integer(try cell.decode(Int64.self))
        case .bool:
            self = .bool(try cell.decode(Bool.self))
        case .float4, .float8:
            self = .real(try cell.decode(Double.self))
        case .bytea:
            self = .blob(Array(try cell.decode(ByteBuffer.self).readableBytesView))
        case .numeric:
            // SUM() over BIGINT yields NUMERIC; keep whole numbers integers.
            let decimal = try cell.decode(Decimal.self)
            if decimal == decimal.rounded(), let integer = Int64(exactly: NSDecimalNumber(decimal: decimal).int64Value),
                Decimal(integer) == decimal
            {
                self = .integer(integer)
            } else {
                self = .real(NSDecimalNumber(decimal: decimal).doubleValue)
            }
        case .uuid:
            self = .text(try cell.decode(UUID.self).lowercasedString)
        case .timestamptz, .timestamp:
            self = .text(Timestamp.string(from: try cell.decode(Date.self)))
        default:
            self = .text(try cell.decode(String.self))
        }
    }
}

extension Decimal {
    fileprivate func rounded() -> Decimal {
        var source = self
        var result = Decimal()
        NSDecimalRound(&result, &source, 0, .plain)
        return result
    }
}

extension DatabaseError {
    init(postgres error: any Error) {
        if let error = error as? DatabaseError {
            self = error
            return
        }
        guard let error = error as? PSQLError else {
            self = .engine("\(error)")
            return
        }
        if let state = error.serverInfo?[.sqlState] {
            let constraint = error.serverInfo?[.constraintName]
            switch state {
            case "23505": self = .uniqueViolation(constraint: constraint)
            case _ where state.hasPrefix("23"): self = .constraintViolation(constraint: constraint)
            case "40001", "40P01": self = .transactionConflict
            case "0A000" where PostgresStorage.isStalePlan(error): self = .transactionConflict
            case _ where state.hasPrefix("08") || state.hasPrefix("57P"):
                self = .unavailable(error.serverInfo?[.message] ?? state)
            default: self = .engine("\(state): \(error.serverInfo?[.message] ?? "")")
            }
            return
        }
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown:
            self = .unavailable(PostgresStorage.reason(error))
        default:
            self = .engine(PostgresStorage.reason(error))
        }
    }
}

import EmporiumCore
