import PostgresNIO
import Synchronization

/// One result row, read by column name.
public struct SQLRow: Sendable {
    let columns: SQLColumnIndex
    private let cells: Cells
    /// Where the row's first column sits in `cells`: a row made by `columns(from:)` shares
    /// its parent's cells.
    private let start: Int

    enum Cells: Sendable {
        case values([SQLValue])
        /// PostgreSQL's cells as they came over the wire, each decoded when it is read: the
        /// rows of a join repeat the first table's columns, which only the first row's reader
        /// looks at, and `SELECT *` brings columns that nobody reads.
        case postgres(PostgresRandomAccessRow)
    }

    init(columns: SQLColumnIndex, values: [SQLValue]) {
        self.init(columns: columns, cells: .values(values), start: 0)
    }

    init(columns: SQLColumnIndex, postgres row: PostgresRandomAccessRow) {
        self.init(columns: columns, cells: .postgres(row), start: 0)
    }

    private init(columns: SQLColumnIndex, cells: Cells, start: Int) {
        self.columns = columns
        self.cells = cells
        self.start = start
    }

    /// The raw value of a column, or `nil` when the row has no such column.
    public func value(_ column: String) throws(DatabaseError) -> SQLValue? {
        try value(column, expected: "a value")
    }

    @usableFromInline
    func value(_ column: String, expected: @autoclosure () -> String) throws(DatabaseError) -> SQLValue? {
        guard let offset = columns.offset(of: column) else { return nil }
        switch cells {
        case .values(let values):
            return values[start + offset]
        case .postgres(let row):
            do {
                return try SQLValue(row[start + offset])
            } catch {
                throw .decoding(column: column, expected: expected(), found: "\(row[start + offset].dataType)")
            }
        }
    }

    /// The column's value as `T`; a missing column or a value that is not a `T` is a
    /// programming error in the store that issued the query, reported as `DatabaseError`.
    /// Inlinable so that each caller gets a copy for its `T`: unspecialized, every read looked
    /// up `T`'s type metadata at run time, a tenth of the CPU of reading a product page.
    @inlinable
    public func decode<T: SQLDecodable>(_ column: String, as type: T.Type = T.self) throws(DatabaseError) -> T {
        guard let value = try value(column, expected: "\(T.self)") else {
            throw .decoding(column: column, expected: "\(T.self)", found: "no such column")
        }
        guard let decoded = T(sqlValue: value) else {
            throw .decoding(column: column, expected: "\(T.self)", found: value.kind)
        }
        return decoded
    }

    /// The columns from the first one named `marker` on, as a row of their own. A join that
    /// reads two tables whole (`SELECT p.*, NULL AS variant_columns, v.*`) repeats names such as
    /// `id`; by name the first table's win, and this reads the second table's.
    public func columns(from marker: String) throws(DatabaseError) -> SQLRow {
        guard let offset = columns.offset(of: marker) else {
            throw .decoding(column: marker, expected: "a marker column", found: "no such column")
        }
        return SQLRow(columns: columns.suffix(from: offset), cells: cells, start: start + offset)
    }

    /// `columns(from:)` for a table reached by a LEFT JOIN: nil when the join matched nothing,
    /// which leaves the table's `id` NULL (a cart without lines is one row of the cart).
    public func joined(from marker: String) throws(DatabaseError) -> SQLRow? {
        let columns = try columns(from: marker)
        return try columns.decode("id", as: String?.self) == nil ? nil : columns
    }
}

/// Column names to offsets, shared by all rows of one result.
final class SQLColumnIndex: Sendable {
    let names: [String]
    private let offsets: [String: Int]
    /// Indexes of this one's tails (`suffix(from:)`), by their first offset.
    private let suffixes = Mutex<[Int: SQLColumnIndex]>([:])

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
    @usableFromInline
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

extension SQLColumnIndex {
    /// The index of the names from `start` on; made once per result and shared by its rows.
    func suffix(from start: Int) -> SQLColumnIndex {
        suffixes.withLock { suffixes in
            if let known = suffixes[start] { return known }
            let index = SQLColumnIndex(names: Array(names[start...]))
            suffixes[start] = index
            return index
        }
    }
}
