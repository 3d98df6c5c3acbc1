import Foundation
public import Hummingbird

extension Request {
    /// Reads the body as JSON of type `T`, or throws the problem that tells the client what
    /// to fix: 415 for another content type, 413 past the body limit, 400 `malformed-json`
    /// for text that is not JSON, 400 `validation` with a JSON pointer for a missing member,
    /// a wrong type or a bad value.
    public func decodeJSON<T: Decodable>(as type: T.Type, context: AppRequestContext) async throws -> T {
        try await decodeJSONBody(as: type, context: context).value
    }

    /// Like `decodeJSON`, but members the type does not know are refused (400 with a pointer
    /// to each), and the answer tells which top-level members were sent as `null`, so that a
    /// PATCH can clear a field rather than leave it alone.
    func decodeStrictJSON<T: Codable>(as type: T.Type, context: AppRequestContext) async throws -> StrictBody<T> {
        let (value, data) = try await decodeJSONBody(as: type, context: context)
        let sent = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        let known = try? JSONSerialization.jsonObject(with: JSONEncoder().encode(value), options: [.fragmentsAllowed])
        var errors: [Problem.FieldError] = []
        StrictBody<T>.findUnknown(sent: sent, known: known, path: "", into: &errors)
        guard errors.isEmpty else { throw Problem.validation(errors) }
        let nulls = (sent as? [String: Any])?.filter { $0.value is NSNull }.keys
        return StrictBody(value: value, nullMembers: Set(nulls ?? [:].keys), data: data)
    }

    func decodeJSONBody<T: Decodable>(as type: T.Type, context: AppRequestContext) async throws -> (value: T, data: Data) {
        guard let contentType = headers[.contentType], Self.isJSON(contentType) else {
            throw Problem.unsupportedMediaType(expected: "application/json")
        }
        var request = self
        let buffer = try await request.collectBody(upTo: context.bodyLimit)
        guard buffer.readableBytes > 0 else { throw Problem.malformedJSON("The request body is empty.") }
        let data = Data(buffer.readableBytesView)
        do {
            return (try JSONDecoder().decode(T.self, from: data), data)
        } catch let error as DecodingError {
            throw Problem(decoding: error, body: data)
        }
    }

    /// `application/json` or any `application/*+json`, parameters such as charset allowed.
    static func isJSON(_ contentType: String) -> Bool {
        let mediaType = contentType.split(separator: ";", maxSplits: 1)[0]
            .trimmingCharacters(in: .whitespaces).lowercased()
        return mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
    }
}

extension Problem {
    /// The problem for a body that did not decode, pointing at the member at fault.
    init(decoding error: DecodingError, body: Data) {
        switch error {
        case .keyNotFound(let key, let context):
            self = .validation([.init(pointer: JSONPointer.make(context.codingPath + [key]), detail: "is required")])
        case .valueNotFound(_, let context):
            self = .validation([.init(pointer: JSONPointer.make(context.codingPath), detail: "must not be null")])
        case .typeMismatch(let type, let context):
            self = .validation([
                .init(pointer: JSONPointer.make(context.codingPath), detail: "must be \(JSONPointer.describe(type))")
            ])
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            // Foundation's decoder reports bad syntax and numbers that do not fit the field
            // (1.5 or 1e30 for an integer) alike, without a path. The parser tells them apart.
            do {
                _ = try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])
                self = .validation([
                    .init(pointer: "", detail: "a number is fractional or out of range where a whole number is expected")
                ])
            } catch {
                let reason = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
                self = .malformedJSON("The request body is not valid JSON" + (reason.map { " (\($0))" } ?? "") + ".")
            }
        case .dataCorrupted(let context):
            self = .validation([.init(pointer: JSONPointer.make(context.codingPath), detail: context.debugDescription)])
        @unknown default:
            self = .malformedJSON("The request body could not be read.")
        }
    }
}

/// A body decoded strictly, and which of its top-level members were `null`.
struct StrictBody<T: Sendable>: Sendable {
    let value: T
    let nullMembers: Set<String>
    /// The body as received, e.g. for an idempotency fingerprint.
    let data: Data

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
            String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
    }
}
