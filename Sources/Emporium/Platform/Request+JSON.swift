import Foundation
public import Hummingbird

extension Request {
    /// Reads the body as JSON of type `T`, or throws the problem that tells the client what
    /// to fix: 415 for another content type, 413 past the body limit, 400 `malformed-json`
    /// for text that is not JSON, 400 `validation` with a JSON pointer for each missing
    /// member, wrong type or bad value — all of them in one answer, together with what the
    /// type's own rules (`CheckedBody`) find wrong with the members that did fit.
    public func decodeJSON<T: Decodable>(as type: T.Type, context: AppRequestContext) async throws -> T {
        try Self.decodeBody(T.self, from: try await jsonBody(context: context))
    }

    /// Like `decodeJSON`, but members the type does not know are refused (400 with a pointer
    /// to each), and the answer tells which top-level members were sent as `null`, so that a
    /// PATCH can clear a field rather than leave it alone.
    func decodeStrictJSON<T: Codable>(as type: T.Type, context: AppRequestContext) async throws -> StrictBody<T> {
        let data = try await jsonBody(context: context)
        // The shape only, scalars unread: a number no type can hold (1e400, 500 digits) in an
        // unknown member must not hide that member (or the body's other members).
        let sent = JSONShape.read(data)?.tree
        let value = try Self.decodeBody(T.self, from: data) { value in
            let known = try? MemberTreeEncoder.tree(of: value)
            guard StrictBody<T>.hasUnknown(sent: sent, known: known) else { return [] }
            var errors: [Problem.FieldError] = []
            StrictBody<T>.findUnknown(sent: sent, known: known, path: "", into: &errors)
            return errors
        }
        let nulls = (sent as? [String: Any])?.filter { $0.value is NSNull }.keys
        return StrictBody(value: value, nullMembers: Set(nulls ?? [:].keys), data: data)
    }

    /// For routes whose body may be left out: `absent` when the body is empty (with or without
    /// a content type: `curl -H 'Content-Type: application/json' -X POST` sends none), else the
    /// body as `decodeStrictJSON` reads it. A body without a content type is refused (415),
    /// never ignored: ignoring `{"amount": 500}` would capture everything.
    func decodeOptionalStrictJSON<T: Codable & Sendable>(as type: T.Type, absent: T, context: AppRequestContext) async throws -> T {
        var request = self
        guard try await request.collectBody(upTo: context.bodyLimit).readableBytes > 0 else { return absent }
        guard headers[.contentType] != nil else { throw Problem.unsupportedMediaType(expected: "application/json") }
        return try await request.decodeStrictJSON(as: T.self, context: context).value
    }

    /// The one path every JSON body takes: its shape, then the type's rules, then `more`
    /// (unknown members), each fault reported once and none below a member already reported.
    static func decodeBody<T: Decodable>(
        _ type: T.Type, from data: Data, more: (T) -> [Problem.FieldError] = { _ in [] }
    ) throws -> T {
        let outcome = try JSONBodyDecoder().decode(T.self, from: data)
        var errors = outcome.errors
        if let value = outcome.value {
            if let checked = value as? any CheckedBody {
                var found = FieldErrors()
                checked.check(into: &found)
                errors.add(found.all)
            }
            errors.add(more(value))
            if errors.isEmpty { return value }
        }
        throw Problem.validation(errors.all)
    }

    /// The body's bytes, once its content type and size are right and it is not empty.
    private func jsonBody(context: AppRequestContext) async throws -> Data {
        guard let contentType = headers[.contentType], Self.isJSON(contentType) else {
            throw Problem.unsupportedMediaType(expected: "application/json")
        }
        var request = self
        let buffer = try await request.collectBody(upTo: context.bodyLimit)
        guard buffer.readableBytes > 0 else { throw Problem.malformedJSON("The request body is empty.") }
        return Data(buffer.readableBytesView)
    }

    /// `application/json` or any `application/*+json`, parameters such as charset allowed.
    static func isJSON(_ contentType: String) -> Bool {
        let mediaType = contentType.split(separator: ";", maxSplits: 1)[0]
            .trimmingCharacters(in: .whitespaces).lowercased()
        return mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
    }
}

/// A body decoded strictly, and which of its top-level members were `null`.
struct StrictBody<T: Sendable>: Sendable {
    let value: T
    let nullMembers: Set<String>
    /// The body as received, e.g. for an idempotency fingerprint.
    let data: Data

    /// Whether `findUnknown` would find anything: the check every body takes, without the
    /// sorting and pointers that only a refusal needs.
    static func hasUnknown(sent: Any?, known: Any?) -> Bool {
        if let sent = sent as? [String: Any] {
            let known = known as? [String: Any] ?? [:]
            return sent.contains { key, value in
                guard let counterpart = known[key] else { return !(value is NSNull) }
                return hasUnknown(sent: value, known: counterpart)
            }
        }
        if let sent = sent as? [Any], let known = known as? [Any], sent.count == known.count {
            return zip(sent, known).contains { hasUnknown(sent: $0, known: $1) }
        }
        return false
    }

    /// Members present in what the client sent but not in the decoded value encoded again:
    /// those the type does not know. Null members are let through, since an absent optional
    /// encodes to nothing as well.
    static func findUnknown(sent: Any?, known: Any?, path: String, into errors: inout [Problem.FieldError]) {
        if let sent = sent as? [String: Any] {
            let known = known as? [String: Any] ?? [:]
            for (key, value) in sent.sorted(by: { $0.key < $1.key }) {
                let pointer = path + "/" + key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
                if let counterpart = known[key] {
                    findUnknown(sent: value, known: counterpart, path: pointer, into: &errors)
                } else if !(value is NSNull) {
                    errors.append(.init(pointer: pointer, detail: "is not a known member"))
                }
            }
        } else if let sent = sent as? [Any], let known = known as? [Any], sent.count == known.count {
            for (index, (element, counterpart)) in zip(sent, known).enumerated() {
                findUnknown(sent: element, known: counterpart, path: path + "/\(index)", into: &errors)
            }
        }
    }
}

/// RFC 6901 JSON pointers from decoding paths.
enum JSONPointer {
    static func make(_ path: [any CodingKey]) -> String {
        path.map { key in
            let token = key.intValue.map(String.init) ?? key.stringValue
            return "/" + token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
        }.joined()
    }

    /// The JSON type a Swift type is read from, as a client would call it.
    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type, is Substring.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt.Type, is UInt64.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        case is [Any].Type: "an array"
        default:
            String(describing: type).hasPrefix("Array") || String(describing: type).contains("Unkeyed") ? "an array" : "an object"
        }
    }
}
