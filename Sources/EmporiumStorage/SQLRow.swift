/// One result row, read by column name.
public struct SQLRow: Sendable {
    let columns: SQLColumnIndex
    let values: [SQLValue]

    init(columns: SQLColumnIndex, values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    /// The raw value of a column, or `nil` when the row has no such column.
    public subscript(column: String) -> SQLValue? {
        columns.offset(of: column).map { values[$0] }
    }

    /// The column's value as `T`; a missing column or a value that is not a `T` is a
    /// programming error in the store that issued the query, reported as `DatabaseError`.
    public func decode<T: SQLDecodable>(_ column: String, as type: T.Type = T.self) throws(DatabaseError) -> T {
        guard let value = self[column] else { throw .decoding(column: column, expected: "\(T.self)", found: "no such column") }
        guard let decoded = T(sqlValue: value) else {
            throw .decoding(column: column, expected: "\(T.self)", found: value.kind)
        }
        return decoded
    }
}

/// Column names to offsets, shared by all rows of one result.
final class SQLColumnIndex: Sendable {
    let names: [String]
    private let offsets: [String: Int]

    init(names: [String]) {
        self.names = names
        var offsets: [String: Int] = [:]
        for (offset, name) in names.enumerated() where offsets[name] == nil {
            offsets[name] = offset
        }
        self.offsets = offsets
    }

    func offset(of name: String) -> Int? { offsets[name] }
}

extension SQLValue {
    /// The kind of value, for error messages that must not echo the data itself.
    var kind: String {
        switch self {
        case .null: "NULL"
        case .integer: "integer"
        case .real: "real"
        case .text: "text"
        case .bool: "boolean"
        case .blob: "blob"
        }
    }
}
