import Foundation

/// Compact JSON text written by hand, for the answers served most often (product pages, carts):
/// Foundation's encoder goes through `Encodable` and its containers, several times the cost.
/// Members are written in the order they are given.
struct JSONText {
    private(set) var bytes: [UInt8] = []

    static let null = Array("null".utf8)

    init() { bytes.reserveCapacity(1024) }

    /// An object's members, in the order the caller writes them: product pages in key order,
    /// as the storefront's sorted-keys encoder wrote them (their ETag is a digest of the bytes).
    struct Object {
        fileprivate var text: JSONText
        private var first = true

        fileprivate init(_ text: JSONText) { self.text = text }

        private mutating func key(_ key: String) {
            if !first { text.bytes.append(UInt8(ascii: ",")) }
            first = false
            text.string(key)
            text.bytes.append(UInt8(ascii: ":"))
        }

        mutating func string(_ name: String, _ value: String) {
            key(name)
            text.string(value)
        }

        mutating func int(_ name: String, _ value: Int64) {
            key(name)
            text.bytes.append(contentsOf: String(value).utf8)
        }

        mutating func bool(_ name: String, _ value: Bool) {
            key(name)
            text.bytes.append(contentsOf: (value ? "true" : "false").utf8)
        }

        /// `value`, or `null` when there is none.
        mutating func string(_ name: String, orNull value: String?) {
            if let value { string(name, value) } else { raw(name, JSONText.null) }
        }

        mutating func raw(_ name: String, _ json: [UInt8]) {
            key(name)
            text.bytes.append(contentsOf: json)
        }

        mutating func nested(_ name: String, _ body: (inout Object) -> Void) {
            key(name)
            text.object(body)
        }

        /// `value`'s object, or `null` when there is none.
        mutating func nested<Value>(_ name: String, orNull value: Value?, _ body: (Value, inout Object) -> Void) {
            guard let value else { return raw(name, JSONText.null) }
            nested(name) { body(value, &$0) }
        }

        mutating func array<Element>(_ name: String, _ elements: [Element], _ write: (Element, inout JSONText) -> Void) {
            key(name)
            text.bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { text.bytes.append(UInt8(ascii: ",")) }
                write(element, &text)
            }
            text.bytes.append(UInt8(ascii: "]"))
        }
    }

    mutating func object(_ body: (inout Object) throws -> Void) rethrows {
        var object = Object(self)
        bytes = []
        object.text.bytes.append(UInt8(ascii: "{"))
        try body(&object)
        object.text.bytes.append(UInt8(ascii: "}"))
        self = object.text
    }

    /// A string as Foundation's encoder writes it with `.withoutEscapingSlashes`: quote and
    /// backslash escaped, control characters as \b \f \n \r \t or \u00XX, the rest as UTF-8.
    mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                          hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// What the storefront's encoder makes of a value: for the members whose key order is
    /// Foundation's to decide (a dictionary's own keys).
    static func foundation(_ value: some Encodable) throws -> [UInt8] {
        Array(try encoder.encode(value))
    }

    /// Sorted keys: the ETag is a digest of the body, so equal content must give equal bytes
    /// (Foundation's key order is not stable from one encoding to the next).
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}
