import Foundation

/// The members a value encodes to, as `JSONSerialization` would read them back from
/// `JSONEncoder`'s output (objects as `[String: Any]`, arrays as `[Any]`, `true` for every
/// scalar, `NSNull` for an explicit nil), without writing or parsing any JSON.
///
/// Strict bodies compare this with the members the client sent, on every write request;
/// encoding to JSON and parsing it again cost two passes over the body for a list of keys.
enum MemberTreeEncoder {
    static func tree(of value: some Encodable) throws -> Any {
        let root = Node()
        try root.encode(value, codingPath: [])
        return root.tree
    }

    /// One value being encoded; a reference, so that containers handed out earlier see what
    /// is added through later ones (a type may ask for its keyed container twice).
    fileprivate final class Node {
        var members: [String: Node]?
        var elements: [Node]?
        var isNull = false

        var tree: Any {
            if let members { return members.mapValues(\.tree) }
            if let elements { return elements.map(\.tree) }
            return isNull ? NSNull() : true
        }

        func makeObject() {
            if members == nil { members = [:] }
        }

        func makeArray() {
            if elements == nil { elements = [] }
        }

        /// Encodes `value` here, as one scalar where `JSONEncoder` writes one (a date, data
        /// as base64, a decimal, a URL) whatever containers its own `encode(to:)` asks for.
        func encode(_ value: some Encodable, codingPath: [any CodingKey]) throws {
            switch value {
            case is Date, is Data, is Decimal, is URL: return
            default: try value.encode(to: TreeEncoder(node: self, codingPath: codingPath))
            }
        }
    }
}

/// `JSONEncoder` refuses NaN and the infinities, and so must the tree: a value it cannot
/// encode has no members to compare.
private func finite(_ value: Double, _ codingPath: [any CodingKey]) throws {
    guard value.isFinite else {
        throw EncodingError.invalidValue(value, .init(codingPath: codingPath, debugDescription: "not a finite number"))
    }
}

private struct TreeEncoder: Encoder {
    let node: MemberTreeEncoder.Node
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.makeObject()
        return KeyedEncodingContainer(KeyedTree<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.makeArray()
        return UnkeyedTree(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleTree(node: node, codingPath: codingPath)
    }
}

private struct KeyedTree<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: MemberTreeEncoder.Node
    let codingPath: [any CodingKey]

    private func child(_ key: Key) -> MemberTreeEncoder.Node { child(named: key.stringValue) }

    private func child(named name: String) -> MemberTreeEncoder.Node {
        let child = MemberTreeEncoder.Node()
        node.members?[name] = child
        return child
    }

    mutating func encodeNil(forKey key: Key) throws { child(key).isNull = true }
    mutating func encode(_ value: Bool, forKey key: Key) throws { _ = child(key) }
    mutating func encode(_ value: String, forKey key: Key) throws { _ = child(key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try finite(value, codingPath + [key]); _ = child(key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try finite(Double(value), codingPath + [key]); _ = child(key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { _ = child(key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { _ = child(key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { _ = child(key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { _ = child(key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { _ = child(key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { _ = child(key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { _ = child(key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { _ = child(key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { _ = child(key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { _ = child(key) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try child(key).encode(value, codingPath: codingPath + [key])
    }

    // Like `JSONEncoder`, a nested container asked for again adds to the one already there.
    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        TreeEncoder(node: existing(key), codingPath: codingPath + [key]).container(keyedBy: NestedKey.self)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        TreeEncoder(node: existing(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    private func existing(_ key: Key) -> MemberTreeEncoder.Node {
        node.members?[key.stringValue] ?? child(key)
    }

    // `JSONEncoder` puts a super encoder's value under the key "super" or the given key.
    mutating func superEncoder() -> any Encoder {
        TreeEncoder(node: child(named: "super"), codingPath: codingPath)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        TreeEncoder(node: child(key), codingPath: codingPath + [key])
    }
}

private struct UnkeyedTree: UnkeyedEncodingContainer {
    let node: MemberTreeEncoder.Node
    let codingPath: [any CodingKey]
    var count: Int { node.elements?.count ?? 0 }

    private func next() -> MemberTreeEncoder.Node {
        let element = MemberTreeEncoder.Node()
        node.elements?.append(element)
        return element
    }

    mutating func encodeNil() throws { next().isNull = true }
    mutating func encode(_ value: Bool) throws { _ = next() }
    mutating func encode(_ value: String) throws { _ = next() }
    mutating func encode(_ value: Double) throws { try finite(value, codingPath); _ = next() }
    mutating func encode(_ value: Float) throws { try finite(Double(value), codingPath); _ = next() }
    mutating func encode(_ value: Int) throws { _ = next() }
    mutating func encode(_ value: Int8) throws { _ = next() }
    mutating func encode(_ value: Int16) throws { _ = next() }
    mutating func encode(_ value: Int32) throws { _ = next() }
    mutating func encode(_ value: Int64) throws { _ = next() }
    mutating func encode(_ value: UInt) throws { _ = next() }
    mutating func encode(_ value: UInt8) throws { _ = next() }
    mutating func encode(_ value: UInt16) throws { _ = next() }
    mutating func encode(_ value: UInt32) throws { _ = next() }
    mutating func encode(_ value: UInt64) throws { _ = next() }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try next().encode(value, codingPath: codingPath)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        TreeEncoder(node: next(), codingPath: codingPath).container(keyedBy: NestedKey.self)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        TreeEncoder(node: next(), codingPath: codingPath).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        TreeEncoder(node: next(), codingPath: codingPath)
    }
}

private struct SingleTree: SingleValueEncodingContainer {
    let node: MemberTreeEncoder.Node
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.isNull = true }
    mutating func encode(_ value: Bool) throws {}
    mutating func encode(_ value: String) throws {}
    mutating func encode(_ value: Double) throws { try finite(value, codingPath) }
    mutating func encode(_ value: Float) throws { try finite(Double(value), codingPath) }
    mutating func encode(_ value: Int) throws {}
    mutating func encode(_ value: Int8) throws {}
    mutating func encode(_ value: Int16) throws {}
    mutating func encode(_ value: Int32) throws {}
    mutating func encode(_ value: Int64) throws {}
    mutating func encode(_ value: UInt) throws {}
    mutating func encode(_ value: UInt8) throws {}
    mutating func encode(_ value: UInt16) throws {}
    mutating func encode(_ value: UInt32) throws {}
    mutating func encode(_ value: UInt64) throws {}

    mutating func encode<T: Encodable>(_ value: T) throws {
        try node.encode(value, codingPath: codingPath)
    }
}
