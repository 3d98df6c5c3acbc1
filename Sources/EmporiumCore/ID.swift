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
        guard text.utf8.count == 36, let uuid = UUID(uuidString: String(text)) else { return nil }
        self.uuid = uuid
    }

    public var description: String { uuid.uuidString.lowercased() }

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
