import EmporiumCore
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
    /// For keyset cursors: the sort key values to continue after.
    let afterKeys: [String]?

    /// A page of a list ordered by id.
    init(_ request: Request) throws {
        try self.init(request, decodeCursor: { Self.decode($0).map { [$0] } })
    }

    /// A page of a list ordered by `cursorFields` values (a `KeysetCursor`).
    init(_ request: Request, cursorFields: Int) throws {
        try self.init(request, decodeCursor: { KeysetCursor.decode($0, count: cursorFields) })
    }

    private init(_ request: Request, decodeCursor: (String) -> [String]?) throws {
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
        var keys: [String]?
        if let cursor = query["cursor"], !cursor.isEmpty {
            keys = decodeCursor(String(cursor))
            if keys == nil { errors.append(.init(parameter: "cursor", detail: "is not a cursor this API issued")) }
        }
        guard errors.isEmpty else { throw Problem.validation(errors, detail: "The query has invalid parameters.") }
        self.limit = limit
        after = keys?.first
        afterKeys = keys
    }

    static func encode(_ id: String) -> String {
        CanonicalBase64URL.encode(id.utf8)
    }

    static func decode(_ cursor: String) -> String? {
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard cursor.count <= 64, let data = Data(base64Encoded: base64),
            let id = String(data: data, encoding: .utf8), UUID(canonical: id) != nil
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
        self.init(rows, limit: limit, cursor: { PageRequest.encode(id($0)) })
    }

    /// As above, with the cursor made from the last item by `cursor` (a `KeysetCursor`).
    init(_ rows: [Item], limit: Int, cursor: (Item) -> String) {
        data = Array(rows.prefix(limit))
        nextCursor = rows.count > limit ? data.last.map(cursor) : nil
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

/// A cursor for lists ordered by more than an id (price, title, rank): the sort key values
/// of the last row shown, as base64url JSON. Opaque to clients; anything that does not decode
/// to the expected number of short strings is refused.
enum KeysetCursor {
    static func encode(_ values: [String]) -> String {
        CanonicalBase64URL.encode((try? JSONEncoder().encode(values)) ?? Data())
    }

    static func decode(_ cursor: String, count: Int) -> [String]? {
        guard cursor.count <= 1024 else { return nil }
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64),
            let values = try? JSONDecoder().decode([String].self, from: data),
            values.count == count, values.allSatisfy({ $0.count <= 256 })
        else { return nil }
        return values
    }
}
