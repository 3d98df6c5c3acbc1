/// A statement and its bound values, written as a string literal in which every
/// interpolation becomes a bound parameter, never text:
///
///     let rows = try await db.query("SELECT id FROM products WHERE handle = \(handle)")
///
/// SQL text can only be spliced in from another `SQL` value (itself made of literals and
/// binds) or through `unsafeRaw:`, which is for identifiers fixed in the code. Placeholders
/// are rendered per engine (`?` for SQLite, `$1` for PostgreSQL) in `rendered(for:)`.
public struct SQL: Sendable, ExpressibleByStringInterpolation {
    enum Fragment: Sendable {
        case text(String)
        case bind(SQLValue)
    }

    private(set) var fragments: [Fragment]

    public init(stringLiteral value: String) {
        fragments = [.text(value)]
    }

    public init(stringInterpolation: StringInterpolation) {
        fragments = stringInterpolation.fragments
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var fragments: [Fragment] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            fragments.reserveCapacity(interpolationCount * 2 + 1)
        }

        public mutating func appendLiteral(_ literal: String) {
            if !literal.isEmpty { fragments.append(.text(literal)) }
        }

        public mutating func appendInterpolation(_ value: some SQLBindable) {
            fragments.append(.bind(value.sqlValue))
        }

        public mutating func appendInterpolation<Value: SQLBindable>(_ value: Value?) {
            fragments.append(.bind(value.sqlValue))
        }

        /// Splices another statement in, keeping its binds as binds.
        public mutating func appendInterpolation(_ sql: SQL) {
            fragments.append(contentsOf: sql.fragments)
        }

        /// Splices text in as SQL. Only for identifiers and keywords written in the code,
        /// never for anything that came from a request.
        public mutating func appendInterpolation(unsafeRaw text: String) {
            fragments.append(.text(text))
        }
    }

    public static func + (lhs: SQL, rhs: SQL) -> SQL {
        var joined = lhs
        joined.fragments.append(contentsOf: rhs.fragments)
        return joined
    }

    /// Joins statements with a separator, e.g. conditions with " AND ".
    public static func joined(_ parts: [SQL], separator: String) -> SQL {
        var result = SQL(stringLiteral: "")
        for (index, part) in parts.enumerated() {
            if index > 0 { result.fragments.append(.text(separator)) }
            result.fragments.append(contentsOf: part.fragments)
        }
        return result
    }

    /// The statement text with the engine's placeholders, and the values in order.
    public func rendered(for dialect: SQLDialect) -> (text: String, binds: [SQLValue]) {
        var text = ""
        var binds: [SQLValue] = []
        for fragment in fragments {
            switch fragment {
            case .text(let part):
                text += part
            case .bind(let value):
                binds.append(value)
                switch dialect {
                case .sqlite: text += "?"
                case .postgres: text += "$\(binds.count)"
                }
            }
        }
        return (text, binds)
    }

    /// Whether the statement only reads: it starts with SELECT. Used to send reads to the
    /// SQLite reader connections; anything else goes to the writer.
    var isSelect: Bool {
        guard case .text(let first)? = fragments.first else { return false }
        return first.drop(while: { $0.isWhitespace }).prefix(6).uppercased() == "SELECT"
    }
}

/// The SQL engine behind a database handle; statements that must differ branch on it.
public enum SQLDialect: String, Sendable {
    case sqlite
    case postgres
}
