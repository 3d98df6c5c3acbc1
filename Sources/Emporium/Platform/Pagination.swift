import Foundation
import Hummingbird

/// `?limit=&cursor=` on list endpoints. The cursor is opaque to clients: the base64url of
/// the last id of the previous page, which is a time-ordered UUID, so pages follow
/// creation order and stay stable while rows are added.
struct PageRequest: Sendable {
    static let defaultLimit = 20
    static let maximumLimit = 100

    let limit: Int
    /// The id to continue after (exclusive), or nil for the first page.
    let after: String?

    init(_ request: Request) throws {
        var errors: [Problem.FieldError] = []
        let query = request.uri.queryParameters
        var limit = Self.defaultLimit
        if let text = query["limit"] {
            if let value = Int(String(text)), (1...Self.maximumLimit).contains(value) {
                limit = value
            } else {
                errors.append(.init(parameter: "limit", detail: "must be a whole number from 1 to \(Self.maximumLimit)"))
            }
        }
        var after: String?
        if let cursor = query["cursor"], !cursor.isEmpty {
            if let decoded = Self.decode(String(cursor)) {
                after = decoded
            } else {
                errors.append(.init(parameter: "cursor", detail: "is not a cursor this API issued"))
            }
        }
        guard errors.isEmpty else { throw Problem.validation(errors, detail: "The query has invalid parameters.") }
        self.limit = limit
        self.after = after
    }

    static func encode(_ id: String) -> String {
        Data(id.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ cursor: String) -> String? {
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard cursor.count <= 64, let data = Data(base64Encoded: base64),
            let id = String(data: data, encoding: .utf8), UUID(uuidString: id) != nil
        else { return nil }
        return id
    }
}

/// A page of a list: `{"data": [...], "next_cursor": "…" | null}`.
struct Page<Item: Encodable & Sendable>: ResponseEncodable {
    let data: [Item]
    let nextCursor: String?

    /// `rows` holds up to `limit + 1` items: one more than asked for tells that another page
    /// exists without a count query.
    init(_ rows: [Item], limit: Int, id: (Item) -> String) {
        data = Array(rows.prefix(limit))
        nextCursor = rows.count > limit ? data.last.map { PageRequest.encode(id($0)) } : nil
    }

    enum CodingKeys: String, CodingKey {
        case data
        case nextCursor = "next_cursor"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(data, forKey: .data)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}
