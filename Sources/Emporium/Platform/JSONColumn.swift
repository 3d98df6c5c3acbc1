import EmporiumCore

/// Reads the JSON the stores keep in text columns (lists of strings, maps of strings, lists of
/// string-valued objects) without Foundation's `JSONDecoder`. The decoder's cost per call, not
/// per byte, was 12 % of the CPU of a product page read from the database: a page decodes four
/// such columns per product and one per variant, most of them `[]` or a handful of words.
///
/// Strict RFC 8259 for these shapes: whitespace anywhere JSON allows it, every string escape
/// (`\uXXXX` with surrogate pairs included), nothing after the value. Anything else is `nil`,
/// and the caller reports the column; of a key written twice the first counts, as with
/// `JSONDecoder`. An object's values must all be strings, where `JSONDecoder` would skip a key
/// its type does not name whatever its value: no store writes other values in these columns.
enum JSONColumn {
    static func strings(_ text: String) -> [String]? {
        read(text) { reader in reader.array { reader in reader.string() } }
    }

    static func stringMap(_ text: String) -> [String: String]? {
        read(text) { reader in reader.object() }
    }

    static func stringObjects(_ text: String) -> [[String: String]]? {
        read(text) { reader in reader.array { reader in reader.object() } }
    }

    private static func read<Value>(_ text: String, _ body: (inout Reader) -> Value?) -> Value? {
        var text = text
        return text.withUTF8 { bytes in
            var reader = Reader(bytes: bytes)
            guard let value = body(&reader) else { return nil }
            reader.skipSpace()
            return reader.index == bytes.count ? value : nil
        }
    }

    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
        }

        mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        /// Skips space, then takes `byte` when it is next.
        mutating func take(_ byte: UInt8) -> Bool {
            skipSpace()
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        mutating func array<Element>(_ element: (inout Reader) -> Element?) -> [Element]? {
            guard take(0x5B) else { return nil }  // [
            var elements: [Element] = []
            if take(0x5D) { return elements }  // ]
            repeat {
                guard let value = element(&self) else { return nil }
                elements.append(value)
            } while take(0x2C)  // ,
            return take(0x5D) ? elements : nil
        }

        mutating func object() -> [String: String]? {
            guard take(0x7B) else { return nil }  // {
            var members: [String: String] = [:]
            if take(0x7D) { return members }  // }
            repeat {
                guard let key = string(), take(0x3A), let value = string() else { return nil }  // :
                if members[key] == nil { members[key] = value }
            } while take(0x2C)
            return take(0x7D) ? members : nil
        }

        mutating func string() -> String? {
            guard take(0x22) else { return nil }  // "
            let start = index
            // Most strings have no escape: one pass, one copy.
            while index < bytes.count, bytes[index] != 0x22, bytes[index] != 0x5C {
                guard bytes[index] >= 0x20 else { return nil }
                index += 1
            }
            guard index < bytes.count else { return nil }
            if bytes[index] == 0x22 {
                defer { index += 1 }
                return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            }
            var out = Array(bytes[start..<index])
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                switch byte {
                case 0x22:
                    return String(decoding: out, as: UTF8.self)
                case 0x5C:
                    guard index < bytes.count else { return nil }
                    let escaped = bytes[index]
                    index += 1
                    switch escaped {
                    case 0x22, 0x5C, 0x2F: out.append(escaped)
                    case 0x62: out.append(0x08)  // b
                    case 0x66: out.append(0x0C)  // f
                    case 0x6E: out.append(0x0A)  // n
                    case 0x72: out.append(0x0D)  // r
                    case 0x74: out.append(0x09)  // t
                    case 0x75:  // u
                        guard let scalar = unicodeEscape(), let encoded = UTF8.encode(scalar) else { return nil }
                        out.append(contentsOf: encoded)
                    default: return nil
                    }
                default:
                    guard byte >= 0x20 else { return nil }
                    out.append(byte)
                }
            }
            return nil
        }

        /// The scalar of `\uXXXX` (the `\u` already read), joining a surrogate pair.
        private mutating func unicodeEscape() -> Unicode.Scalar? {
            guard let unit = hexUnit() else { return nil }
            switch unit {
            case 0xD800..<0xDC00:
                guard index + 1 < bytes.count, bytes[index] == 0x5C, bytes[index + 1] == 0x75 else { return nil }
                index += 2
                guard let low = hexUnit(), (0xDC00..<0xE000).contains(low) else { return nil }
                return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
            case 0xDC00..<0xE000:
                return nil
            default:
                return Unicode.Scalar(unit)
            }
        }

        private mutating func hexUnit() -> UInt32? {
            guard index + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let digit = Hex.value(ofDigit: bytes[index]) else { return nil }
                value = value << 4 | UInt32(digit)
                index += 1
            }
            return value
        }
    }
}
