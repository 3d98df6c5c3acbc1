import PostgresNIO

/// Runs statements as named prepared statements, prepared once per connection.
///
/// postgres-nio keeps prepared statements per connection by a type's static `name`, `sql`
/// and `bindingDataTypes`; ours are built at run time, so one type reads them from a task
/// local that is set around each call. The name is a digest of the text and the bound
/// types, so one text bound with other types (a NULL now, an integer later) is a statement
/// of its own. Skipping Parse saves the server its parse and plan on every execution.
struct RuntimePreparedStatement: PostgresPreparedStatement {
    typealias Row = PostgresRow

    struct Definition: Sendable {
        var name = ""
        var sql = ""
        var types: [PostgresDataType] = []
    }

    @TaskLocal static var current = Definition()

    static var name: String { current.name }
    static var sql: String { current.sql }
    static var bindingDataTypes: [PostgresDataType] { current.types }

    let bindings: PostgresBindings

    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }

    /// The definition and bindings of a statement, or `nil` for one that should not be
    /// prepared: statements without binds (DDL, BEGIN, pragmas of the migrations) are run
    /// once or are cheap to parse, and utility statements cannot always be prepared.
    static func make(_ sql: SQL) -> (Definition, RuntimePreparedStatement)? {
        let (text, values) = sql.rendered(for: .postgres)
        guard !values.isEmpty, isPreparable(text) else { return nil }
        var binds = PostgresBindings(capacity: values.count)
        var types: [PostgresDataType] = []
        types.reserveCapacity(values.count)
        for value in values {
            switch value {
            case .null: binds.appendNull(); types.append(.null)
            case .integer(let integer): binds.append(integer); types.append(.int8)
            case .real(let real): binds.append(real); types.append(.float8)
            case .text(let text): binds.append(text); types.append(.text)
            case .bool(let bool): binds.append(bool); types.append(.bool)
            case .blob(let bytes): binds.append(ByteBuffer(bytes: bytes)); types.append(.bytea)
            }
        }
        var digest = Digest()
        digest.add(text)
        for type in types { digest.add(type.rawValue) }
        let definition = Definition(name: "emporium_" + digest.hex, sql: text, types: types)
        return (definition, RuntimePreparedStatement(bindings: binds))
    }

    private static func isPreparable(_ text: String) -> Bool {
        let head = text.drop(while: { $0.isWhitespace }).prefix(6).uppercased()
        return ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"].contains { head.hasPrefix($0) }
    }

    /// Two 64-bit FNV-1a hashes with different offsets: 128 bits, so that two statement
    /// texts of one program never share a name.
    private struct Digest {
        var first: UInt64 = 0xcbf2_9ce4_8422_2325
        var second: UInt64 = 0x6c62_272e_07bb_0142

        mutating func add(_ text: String) {
            for byte in text.utf8 { add(byte) }
            add(UInt8(0))
        }

        mutating func add(_ value: UInt32) {
            for shift in stride(from: 0, to: 32, by: 8) { add(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
        }

        private mutating func add(_ byte: UInt8) {
            first = (first ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            second = (second ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }

        var hex: String {
            func pad(_ value: UInt64) -> String {
                let digits = String(value, radix: 16)
                return String(repeating: "0", count: 16 - digits.count) + digits
            }
            return pad(first) + pad(second)
        }
    }
}

extension PostgresConnection {
    /// Runs `sql` on this connection, prepared when it can be, and reads its rows.
    func rows(_ sql: SQL, logger: Logger) async throws -> [SQLRow] {
        guard let (definition, statement) = RuntimePreparedStatement.make(sql) else {
            return try await PostgresStorage.collect(query(PostgresStorage.postgresQuery(sql), logger: logger))
        }
        return try await RuntimePreparedStatement.$current.withValue(definition) {
            try await PostgresStorage.collect(execute(statement, logger: logger), statement: definition.name)
        }
    }
}
