import Foundation
import Testing

@testable import Emporium

/// `MemberTreeEncoder` names the members `JSONEncoder` writes, so that strict bodies refuse
/// exactly what they refused when the decoded value was encoded to JSON and parsed again.
@Suite struct MemberTreeEncoderTests {
    private struct Line: Codable {
        var sku: String
        var quantity: Int
        var note: String?
    }

    private enum Kind: String, Codable { case gift, plain }

    private struct Body: Codable {
        var name: String
        var gift: Bool?
        var kind: Kind
        var price: Decimal
        var when: Date
        var file: Data
        var site: URL?
        var lines: [Line]
        var matrix: [[Int]]
        var labels: [String: String]
        var counts: [Int: Int]
        var nested: [String: [Line]]?
        var explicitNull: String?

        enum CodingKeys: String, CodingKey {
            case name, gift, kind, price, when, file, site, lines, matrix, labels, counts, nested
            case explicitNull = "explicit_null"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encodeIfPresent(gift, forKey: .gift)
            try container.encode(kind, forKey: .kind)
            try container.encode(price, forKey: .price)
            try container.encode(when, forKey: .when)
            try container.encode(file, forKey: .file)
            try container.encodeIfPresent(site, forKey: .site)
            try container.encode(lines, forKey: .lines)
            try container.encode(matrix, forKey: .matrix)
            try container.encode(labels, forKey: .labels)
            try container.encode(counts, forKey: .counts)
            try container.encodeIfPresent(nested, forKey: .nested)
            try container.encode(explicitNull, forKey: .explicitNull)
        }
    }

    private static let bodies = [
        Body(
            name: "a", gift: nil, kind: .gift, price: Decimal(string: "12.50")!, when: Date(timeIntervalSince1970: 0),
            file: Data([1, 2, 3]), site: nil, lines: [], matrix: [], labels: [:], counts: [:], nested: nil, explicitNull: nil),
        Body(
            name: "b", gift: true, kind: .plain, price: 1, when: Date(), file: Data(),
            site: URL(string: "https://example.com/a?b=c"),
            lines: [Line(sku: "A", quantity: 1, note: nil), Line(sku: "B", quantity: 2, note: "wrap")],
            matrix: [[1, 2], [], [3]], labels: ["x": "y", "a/b~c": "d"], counts: [1: 2, 30: 4],
            nested: ["first": [Line(sku: "C", quantity: 3, note: "n")], "empty": []], explicitNull: "set"),
    ]

    @Test func namesTheMembersJSONEncoderWrites() throws {
        for body in Self.bodies {
            let viaJSON = try JSONSerialization.jsonObject(with: JSONEncoder().encode(body), options: [.fragmentsAllowed])
            let tree = try MemberTreeEncoder.tree(of: body)
            #expect(Self.describe(tree) == Self.describe(Self.scalarsAsTrue(viaJSON)))
        }
    }

    /// Encodes through every container a hand-written `encode(to:)` can ask for, opening one
    /// nested container twice and a keyed container a second time.
    private struct Handmade: Encodable {
        enum Key: String, CodingKey { case meta, list, parent, child, lone }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            var meta = container.nestedContainer(keyedBy: Key.self, forKey: .meta)
            try meta.encode("a", forKey: .child)
            var again = container.nestedContainer(keyedBy: Key.self, forKey: .meta)
            try again.encodeNil(forKey: .lone)
            var list = container.nestedUnkeyedContainer(forKey: .list)
            try list.encode(1)
            var inner = list.nestedContainer(keyedBy: Key.self)
            try inner.encode(true, forKey: .child)
            var deeper = list.nestedUnkeyedContainer()
            try deeper.encodeNil()
            try list.encode(Optional<Int>.none)
            try 5.encode(to: container.superEncoder(forKey: .parent))
            try "s".encode(to: container.superEncoder())
            var second = encoder.container(keyedBy: Key.self)
            try second.encode([1, 2], forKey: .child)
        }
    }

    @Test func followsHandWrittenEncodersAsJSONEncoderDoes() throws {
        let viaJSON = try JSONSerialization.jsonObject(with: JSONEncoder().encode(Handmade()), options: [.fragmentsAllowed])
        #expect(Self.describe(try MemberTreeEncoder.tree(of: Handmade())) == Self.describe(Self.scalarsAsTrue(viaJSON)))
    }

    @Test func refusesWhatJSONEncoderCannotWrite() {
        #expect(throws: EncodingError.self) { try MemberTreeEncoder.tree(of: ["price": Double.nan]) }
        #expect(throws: EncodingError.self) { try MemberTreeEncoder.tree(of: [Float.infinity]) }
    }

    @Test func aStrictBodyRefusesAnUnknownMemberAtAnyDepth() throws {
        let body = Self.bodies[1]
        let known = try MemberTreeEncoder.tree(of: body)
        let sent: [String: Any] = [
            "name": true, "lines": [["sku": true, "quantity": true, "colour": true], ["sku": true]],
            "gift": NSNull(), "nested": ["first": [["sku": true, "extra": NSNull()]]],
        ]
        #expect(StrictBody<Int>.hasUnknown(sent: sent, known: known))
        var errors: [Problem.FieldError] = []
        StrictBody<Int>.findUnknown(sent: sent, known: known, path: "", into: &errors)
        #expect(errors.map(\.pointer) == ["/lines/0/colour"])
        let fitting: [String: Any] = ["name": true, "lines": [["sku": true, "note": NSNull()], ["sku": true]], "unknown_but_null": NSNull()]
        #expect(!StrictBody<Int>.hasUnknown(sent: fitting, known: known))
    }

    /// What `JSONShape.tree` makes of a body: every scalar is `true`.
    private static func scalarsAsTrue(_ node: Any) -> Any {
        switch node {
        case let object as [String: Any]: object.mapValues(scalarsAsTrue)
        case let array as [Any]: array.map(scalarsAsTrue)
        case is NSNull: NSNull()
        default: true
        }
    }

    private static func describe(_ node: Any) -> String {
        switch node {
        case let object as [String: Any]:
            "{" + object.keys.sorted().map { "\($0): \(describe(object[$0]!))" }.joined(separator: ", ") + "}"
        case let array as [Any]: "[" + array.map(describe).joined(separator: ", ") + "]"
        case is NSNull: "null"
        default: "scalar"
        }
    }
}
