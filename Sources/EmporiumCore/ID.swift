public import Foundation

/// An id that knows which kind of entity it names: an `ID<Order>` cannot be passed where an
/// `ID<Cart>` is expected. In JSON and in the database it is the UUID as lower-case text.
public struct ID<Entity>: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let uuid: UUID

    public init(_ uuid: UUID) {
        self.uuid = uuid
    }

    /// Parses the canonical 36-character text form, in either case; `nil` for anything else.
    public init?(_ text: some StringProtocol) {
        guard let uuid = UUID(canonical: text) else { return nil }
        self.uuid = uuid
    }

    public var description: String { uuid.lowercasedString }

    public static func < (lhs: ID, rhs: ID) -> Bool {
        // Byte order is creation order for version 7 ids.
        withUnsafeBytes(of: lhs.uuid.uuid) { lhsBytes in
            withUnsafeBytes(of: rhs.uuid.uuid) { rhsBytes in
                lhsBytes.lexicographicallyPrecedes(rhsBytes)
            }
        }
    }
}

extension ID: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let id = ID(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a UUID")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// The text form of a UUID, both ways, by hand: on Linux Foundation reads it with `sscanf` and
/// writes it with `snprintf` (then `lowercased()` copies it again), which together were 3 % of
/// the CPU of a product page read from the database, where every row carries ids.
extension UUID {
    /// The canonical form (8-4-4-4-12 hexadecimal digits), in either case; `nil` for anything else.
    public init?(canonical text: some StringProtocol) {
        let parsed =
            text.utf8.withContiguousStorageIfAvailable { Self.parse($0) } ?? Array(text.utf8).withUnsafeBufferPointer { Self.parse($0) }
        guard let parsed else { return nil }
        self = parsed
    }

    /// The canonical form in lower case, as the API and the database carry it.
    public var lowercasedString: String {
        withUnsafeBytes(of: uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { out in
                var position = 0
                for (index, byte) in bytes.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        out[position] = 0x2D  // -
                        position += 1
                    }
                    out[position] = Hex.digit(byte >> 4)
                    out[position + 1] = Hex.digit(byte & 0x0F)
                    position += 2
                }
                return position
            }
        }
    }

    private static func parse(_ text: UnsafeBufferPointer<UInt8>) -> UUID? {
        guard text.count == 36 else { return nil }
        var value: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let complete = withUnsafeMutableBytes(of: &value) { out -> Bool in
            var index = 0
            for position in 0..<16 {
                if position == 4 || position == 6 || position == 8 || position == 10 {
                    guard text[index] == 0x2D else { return false }
                    index += 1
                }
                guard let high = Hex.value(ofDigit: text[index]), let low = Hex.value(ofDigit: text[index + 1]) else { return false }
                out[position] = high << 4 | low
                index += 2
            }
            return true
        }
        return complete ? UUID(uuid: value) : nil
    }
}
