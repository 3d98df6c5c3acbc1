/// What can go wrong talking to the database, in terms the rest of the program acts on.
/// Messages carry constraint names and SQLSTATEs, never bound values or statement text from
/// a request, so they are safe to log.
public enum DatabaseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A unique or primary key constraint rejected the write.
    case uniqueViolation(constraint: String?)
    /// A CHECK, NOT NULL or foreign key constraint rejected the write.
    case constraintViolation(constraint: String?)
    /// The engine aborted the transaction to keep it serializable or to break a deadlock;
    /// retrying the whole transaction is safe.
    case transactionConflict
    /// The database cannot be reached or the handle is closed.
    case unavailable(String)
    /// A row did not have the shape the code expected.
    case decoding(column: String, expected: String, found: String)
    /// Anything else the engine reported.
    case engine(String)

    public var description: String {
        switch self {
        case .uniqueViolation(let constraint): "unique constraint violated (\(constraint ?? "unnamed"))"
        case .constraintViolation(let constraint): "constraint violated (\(constraint ?? "unnamed"))"
        case .transactionConflict: "transaction aborted by a concurrent transaction; retry it"
        case .unavailable(let reason): "database unavailable: \(reason)"
        case .decoding(let column, let expected, let found): "column \(column): expected \(expected), found \(found)"
        case .engine(let message): "database error: \(message)"
        }
    }
}
