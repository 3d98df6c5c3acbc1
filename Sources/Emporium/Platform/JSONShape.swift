import Foundation

/// A JSON document's objects, arrays and nulls, with every other value left unread as a
/// placeholder: enough to name members, and it cannot fail on a value out of any type's range
/// (1e400, five hundred digits).
///
/// Strict JSON is read by hand in one pass over the bytes. Through `JSONDecoder` every scalar
/// cost two thrown errors (not an object, not an array) before it was read as one: the largest
/// part of what a small request body cost to decode. What the hand reader leaves (member names
/// with escapes, and what Foundation's decoder reads beyond strict JSON: trailing commas,
/// control characters in strings, unknown escapes) goes through the decoder as before, so that
/// the shape always names the members the body's decoder saw.
enum JSONShape: Equatable, Decodable {
    case object([String: JSONShape])
    case array([JSONShape])
    case null
    case scalar

    /// The shape of `data`, or nil when neither reader reads it (the body's decoder then says
    /// what is wrong). The hand reader does not check numbers, so it gives a shape for a few
    /// texts the decoder refuses (`[+1]`); the body's decoder refuses those, and the shape is
    /// never used without it.
    static func read(_ data: Data) -> JSONShape? {
        readStrict(data) ?? (try? JSONDecoder().decode(JSONShape.self, from: data))
    }

    /// The shape of strict JSON whose member names are UTF-8 without escapes, or nil for
    /// anything else and for nesting deeper than `maximumDepth`. A member named twice keeps its
    /// first value, as Foundation's decoder does.
    static func readStrict(_ data: Data) -> JSONShape? {
        data.withUnsafeBytes { raw in
            var reader = Reader(bytes: raw.bindMemory(to: UInt8.self))
            guard let shape = reader.value(depth: 0) else { return nil }
            reader.skipWhitespace()
            return reader.index == reader.bytes.count ? shape : nil
        }
    }

    init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: MemberKey.self) {
            var members: [String: JSONShape] = [:]
            for key in object.allKeys {
                members[key.stringValue] = try object.decode(JSONShape.self, forKey: key)
            }
            self = .object(members)
        } else if var array = try? decoder.unkeyedContainer() {
            var elements: [JSONShape] = []
            while !array.isAtEnd {
                elements.append(try array.decode(JSONShape.self))
            }
            self = .array(elements)
        } else {
            self = try decoder.singleValueContainer().decodeNil() ? .null : .scalar
        }
    }

    private struct MemberKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Foundation's decoder refuses deeper documents too; the limit keeps a body of a million
    /// `[` from taking the hand reader's stack.
    static let maximumDepth = 512

    /// As `JSONSerialization` would give it, with `true` standing in for every scalar.
    var tree: Any {
        switch self {
        case .object(let members): members.mapValues(\.tree)
        case .array(let elements): elements.map(\.tree)
        case .null: NSNull()
        case .scalar: true
        }
    }

    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
        }

        private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
        }

        mutating func value(depth: Int) -> JSONShape? {
            skipWhitespace()
            guard let byte = current, depth < JSONShape.maximumDepth else { return nil }
            switch byte {
            case UInt8(ascii: "{"): return object(depth: depth + 1)
            case UInt8(ascii: "["): return array(depth: depth + 1)
            case UInt8(ascii: "\""): return string(keeping: false) == nil ? nil : .scalar
            case UInt8(ascii: "n"): return literal("null") ? .null : nil
            case UInt8(ascii: "t"): return literal("true") ? .scalar : nil
            case UInt8(ascii: "f"): return literal("false") ? .scalar : nil
            default: return number() ? .scalar : nil
            }
        }

        private mutating func object(depth: Int) -> JSONShape? {
            var members: [String: JSONShape] = [:]
            let read = items(closedBy: UInt8(ascii: "}")) { reader in
                reader.skipWhitespace()
                guard reader.current == UInt8(ascii: "\""), let key = reader.string(keeping: true) else { return false }
                reader.skipWhitespace()
                guard reader.current == UInt8(ascii: ":") else { return false }
                reader.index += 1
                guard let member = reader.value(depth: depth) else { return false }
                if members[key] == nil { members[key] = member }
                return true
            }
            return read ? .object(members) : nil
        }

        private mutating func array(depth: Int) -> JSONShape? {
            var elements: [JSONShape] = []
            let read = items(closedBy: UInt8(ascii: "]")) { reader in
                guard let element = reader.value(depth: depth) else { return false }
                elements.append(element)
                return true
            }
            return read ? .array(elements) : nil
        }

        /// The members or elements after the opening bracket at `index`, each read by `item`,
        /// separated by commas up to `closer`; false as soon as one does not read.
        private mutating func items(closedBy closer: UInt8, _ item: (inout Reader) -> Bool) -> Bool {
            index += 1
            skipWhitespace()
            if current == closer {
                index += 1
                return true
            }
            while true {
                guard item(&self) else { return false }
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): index += 1
                case closer:
                    index += 1
                    return true
                default: return false
                }
            }
        }

        /// The string whose opening quote is at `index`: its text when `keeping` (member
        /// names), "" for a value, which nobody reads; nil for a name with escapes.
        private mutating func string(keeping: Bool) -> String? {
            index += 1
            let start = index
            while let byte = current {
                switch byte {
                case UInt8(ascii: "\""):
                    let body = UnsafeBufferPointer(rebasing: bytes[start..<index])
                    index += 1
                    // A name that is not UTF-8 is left to the decoder, which refuses it.
                    return keeping ? String(validating: body, as: UTF8.self) : ""
                case UInt8(ascii: "\\"):
                    guard !keeping else { return nil }
                    index += 2
                case 0..<0x20:
                    return nil
                default:
                    index += 1
                }
            }
            return nil
        }

        private mutating func literal(_ word: StaticString) -> Bool {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { return false }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return false }
            index += count
            return true
        }

        /// A number's characters, not checked further: the shape never reads one, and text
        /// that is not a number makes the body's decoder refuse it anyway.
        private mutating func number() -> Bool {
            let start = index
            while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
            {
                index += 1
            }
            return index > start
        }
    }
}
