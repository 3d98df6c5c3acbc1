import EmporiumCore
import EmporiumStorage
import Foundation
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// What happens around every statement: a client span when the statement runs inside a
/// trace, and a warning line when it took longer than the slow-query threshold. Both name
/// the statement (`SQL.statementName`: verb and table) and never carry its bound values.
struct StatementObserver: Sendable {
    /// OpenTelemetry's `db.system` value.
    let system: String
    /// `nil`: no slow-query log.
    let slowThreshold: Duration?
    let logger: Logger

    init(dialect: SQLDialect, slowThreshold: Duration?, logger: Logger) {
        system = dialect == .postgres ? "postgresql" : "sqlite"
        self.slowThreshold = slowThreshold
        self.logger = logger
    }

    func observe(_ sql: SQL, _ run: () async throws(DatabaseError) -> [SQLRow]) async throws(DatabaseError) -> [SQLRow] {
        let context = ServiceContext.current
        // Only inside a trace: the sweeper's and the job runner's polling would otherwise
        // each start a trace of one statement.
        let span: (any Span)? =
            if let context, context.otelTraceID != nil, let tracer = context.activeTracer {
                tracer.startSpan(sql.statementName, context: context, ofKind: .client)
            } else {
                nil
            }
        guard span != nil || slowThreshold != nil else { return try await run() }
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let rows = try await run()
            finish(sql, span: span, elapsed: clock.now - start, error: nil)
            return rows
        } catch {
            finish(sql, span: span, elapsed: clock.now - start, error: error)
            throw error
        }
    }

    static func kind(of error: DatabaseError) -> String {
        switch error {
        case .uniqueViolation: "unique_violation"
        case .constraintViolation: "constraint_violation"
        case .transactionConflict: "transaction_conflict"
        case .unavailable: "unavailable"
        case .decoding: "decoding"
        case .engine: "engine"
        }
    }

    private func finish(_ sql: SQL, span: (any Span)?, elapsed: Duration, error: DatabaseError?) {
        if let span {
            span.attributes["db.system"] = system
            // The error's kind only: a driver's message can quote a value (a duplicate key).
            if let error {
                span.attributes["error.type"] = Self.kind(of: error)
                span.setStatus(.init(code: .error))
            }
            span.end()
        }
        if let slowThreshold, elapsed >= slowThreshold {
            logger.warning(
                "slow query",
                metadata: [
                    "statement": .string(sql.statementName), "db_system": .string(system),
                    "duration_ms": .string(elapsed.loggedMilliseconds),
                ])
        }
    }
}

/// A `Database` that passes everything to another and observes each statement, however it
/// is reached: on the pool, in a transaction, or on a held connection. The application wraps
/// the database it opens in one when tracing or the slow-query log is on; when both are off
/// it uses the database as it is and pays nothing.
struct TracedDatabase: Database {
    let base: any Database
    let observer: StatementObserver

    var dialect: SQLDialect { base.dialect }
    var displayName: String { base.displayName }
    var statistics: DatabaseStatistics { base.statistics }

    func query(_ sql: SQL) async throws(DatabaseError) -> [SQLRow] {
        try await observer.observe(sql) { () async throws(DatabaseError) in try await base.query(sql) }
    }

    func transaction<Result: Sendable>(_ body: (any SQLExecutor) async throws -> Result) async throws -> Result {
        try await base.transaction { executor in try await body(TracedExecutor(base: executor, observer: observer)) }
    }

    func withConnection<Result: Sendable>(_ body: (any DatabaseConnection) async throws -> Result) async throws -> Result {
        try await base.withConnection { connection in try await body(TracedConnection(base: connection, observer: observer)) }
    }

    func listen(
        on channel: String, onListening: @Sendable () -> Void, onNotification: @escaping @Sendable () -> Void
    ) async throws {
        try await base.listen(on: channel, onListening: onListening, onNotification: onNotification)
    }

    func close() async {
        await base.close()
    }

    func run() async throws {
        try await base.run()
    }
}

extension Database {
    /// This database without the statement observer, for work whose slowness is expected.
    var unobserved: any Database { (self as? TracedDatabase)?.base ?? self }
}

/// A transaction's executor, observed.
struct TracedExecutor: SQLExecutor {
    let base: any SQLExecutor
    let observer: StatementObserver

    var dialect: SQLDialect { base.dialect }

    func query(_ sql: SQL) async throws(DatabaseError) -> [SQLRow] {
        try await observer.observe(sql) { () async throws(DatabaseError) in try await base.query(sql) }
    }
}

/// A held connection, observed, transactions on it included.
struct TracedConnection: DatabaseConnection {
    let base: any DatabaseConnection
    let observer: StatementObserver

    var dialect: SQLDialect { base.dialect }

    func query(_ sql: SQL) async throws(DatabaseError) -> [SQLRow] {
        try await observer.observe(sql) { () async throws(DatabaseError) in try await base.query(sql) }
    }

    func transaction<Result: Sendable>(_ body: (any SQLExecutor) async throws -> Result) async throws -> Result {
        try await base.transaction { executor in try await body(TracedExecutor(base: executor, observer: observer)) }
    }
}
