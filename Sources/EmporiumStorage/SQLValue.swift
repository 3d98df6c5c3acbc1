public import EmporiumCore
public import Foundation

/// A value bound into a statement or read from a row. The small common ground of SQLite and
/// PostgreSQL that Emporium's schemas use: integers, reals, text, booleans, bytes and NULL.
public enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case bool(Bool)
    case blob([UInt8])
}

/// A Swift value that can be bound into a statement.
public protocol SQLBindable: Sendable {
    var sqlValue: SQLValue { get }
}

/// A Swift value that can be read from a column.
public protocol SQLDecodable {
    init?(sqlValue: SQLValue)
}

extension Int64: SQLBindable, SQLDecodable {
    public var sqlValue: SQLValue { .integer(self) }
    @inlinable
    public init?(sqlValue: SQLValue) {
        switch sqlValue {
        case .integer(let value): self = value
        case .bool(let value): self = value ? 1 : 0
        default: return nil
        }
    }
}

extension Int: SQLBindable, SQLDecodable {
    public var sqlValue: SQLValue { .integer(Int64(self)) }
    @inlinable
    public init?(sqlValue: SQLValue) {
        guard let value = Int64(sqlValue: sqlValue) else { return nil }
        self = Int(value)
    }
}

extension Double: SQLBindable, SQLDecodable {
    public var sqlValue: SQLValue { .real(self) }
    @inlinable
    public init?(sqlValue: SQLValue) {
        switch sqlValue {
        case .real(let value): self = value
        case .integer(let value): self = Double(value)
        default: return nil
        }
    }
}

extension String: SQLBindable, SQLDecodable {
    public var sqlValue: SQLValue { .text(self) }
    @inlinable
    public init?(sqlValue: SQLValue) {
        guard case .text(let value) = sqlValue else { return nil }
        self = value
    }
}

extension Bool: SQLBindable, SQLDecodable {
    public var sqlValue: SQLValue { .bool(self) }
    @inlinable
    public init?(sqlValue: SQLValue) {
        switch sqlValue {
        case .bool(let value): self = value
        // SQLite has no boolean type and stores 0 and 1.
        case .integer(let value): self = value != 0
        default: return nil
        }
    }
}

extension Date: SQLBindable, SQLDecodable {
    /// Stored as `Timestamp` text so that both engines compare and sort it the same way.
    public var sqlValue: SQLValue { .text(Timestamp.string(from: self)) }
    @inlinable
    public init?(sqlValue: SQLValue) {
        guard case .text(let text) = sqlValue, let date = Timestamp.date(from: text) else { return nil }
        self = date
    }
}

extension ID: SQLBindable, SQLDecodable {
    public var sqlValue: SQLValue { .text(description) }
    @inlinable
    public init?(sqlValue: SQLValue) {
        guard case .text(let text) = sqlValue, let id = ID(text) else { return nil }
        self = id
    }
}

extension Optional: SQLBindable where Wrapped: SQLBindable {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

extension Optional: SQLDecodable where Wrapped: SQLDecodable {
    /// NULL decodes to `nil`; any other value must decode as `Wrapped`.
    @inlinable
    public init?(sqlValue: SQLValue) {
        if case .null = sqlValue {
            self = .none
        } else if let value = Wrapped(sqlValue: sqlValue) {
            self = .some(value)
        } else {
            return nil
        }
    }
}

extension SQLValue: SQLBindable {
    public var sqlValue: SQLValue { self }
}
