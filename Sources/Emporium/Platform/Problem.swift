import Foundation
public import HTTPTypes
public import Hummingbird

/// An RFC 9457 problem: the one shape every error response of the API takes.
///
/// Throw it from anywhere in a request; `ProblemMiddleware` turns it, and every other
/// error, into an `application/problem+json` response. That is the one place problem
/// responses are made (`response(path:requestID:)`), so every one carries the request's id;
/// an answer kept for a repeated `Idempotency-Key` keeps the problem, not its bytes, and is
/// thrown again to go the same way.
public struct Problem: Error, Sendable {
    /// The last part of the problem's `type` URI, e.g. `validation` in
    /// `urn:emporium:problem:validation`. Clients branch on it.
    public var slug: String
    public var title: String
    public var status: HTTPResponse.Status
    public var detail: String?
    public var errors: [FieldError]
    /// Extra response headers, e.g. `Retry-After` or `Allow`.
    public var headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status, slug: String, title: String, detail: String? = nil,
        errors: [FieldError] = [], headers: HTTPFields = [:]
    ) {
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers
    }

    public static let typePrefix = "urn:emporium:problem:"
    public var type: String { Self.typePrefix + slug }

    /// One invalid input: where it is (a JSON pointer into the body, or a query parameter
    /// or header name) and what is wrong with it.
    public struct FieldError: Sendable, Equatable, Codable {
        public var pointer: String?
        public var parameter: String?
        public var detail: String

        public init(pointer: String, detail: String) {
            self.pointer = pointer
            self.detail = detail
        }

        public init(parameter: String, detail: String) {
            self.parameter = parameter
            self.detail = detail
        }
    }
}

// MARK: The problems the platform itself raises

extension Problem {
    public static func notFound(_ detail: String = "There is nothing at this path.") -> Problem {
        Problem(.notFound, slug: "not-found", title: "Not found", detail: detail)
    }

    public static func methodNotAllowed(allowed: [HTTPRequest.Method]) -> Problem {
        let list = allowed.map(\.rawValue).joined(separator: ", ")
        return Problem(
            .methodNotAllowed, slug: "method-not-allowed", title: "Method not allowed",
            detail: "This path accepts \(list).", headers: [.allow: list])
    }

    public static func validation(_ errors: [FieldError], detail: String = "The request has invalid fields.") -> Problem {
        Problem(.badRequest, slug: "validation", title: "Invalid request", detail: detail, errors: errors)
    }

    public static func malformedJSON(_ detail: String) -> Problem {
        Problem(.badRequest, slug: "malformed-json", title: "Malformed JSON", detail: detail)
    }

    public static func badRequest(_ detail: String) -> Problem {
        Problem(.badRequest, slug: "bad-request", title: "Bad request", detail: detail)
    }

    public static func unsupportedMediaType(expected: String) -> Problem {
        Problem(
            .unsupportedMediaType, slug: "unsupported-media-type", title: "Unsupported media type",
            detail: "Send the body as \(expected) with a matching Content-Type header.")
    }

    public static func payloadTooLarge(limit: Int) -> Problem {
        Problem(
            .contentTooLarge, slug: "payload-too-large", title: "Request body too large",
            detail: "The request body exceeds the limit of \(limit) bytes.")
    }

    public static func rateLimited(retryAfterSeconds: Int) -> Problem {
        Problem(
            .tooManyRequests, slug: "rate-limited", title: "Too many requests",
            detail: "Slow down and retry after \(retryAfterSeconds) s.",
            headers: [.retryAfter: String(retryAfterSeconds)])
    }

    /// The database kept refusing the request's transaction: PostgreSQL aborted it for a
    /// conflict with others on every retry, or another process held the SQLite file's write
    /// lock. Nothing was written; the same request may be sent again.
    public static let databaseBusy = Problem(
        .serviceUnavailable, slug: "database-busy", title: "Database busy",
        detail: "The database is busy with other writes and nothing was changed; retry the request in a second.",
        headers: [.retryAfter: "1"])

    public static func unavailable(_ detail: String) -> Problem {
        Problem(.serviceUnavailable, slug: "unavailable", title: "Service unavailable", detail: detail)
    }

    /// For errors the client did not cause. The detail never says more than this: the
    /// cause goes to the log under the same request id.
    /// What a request the client abandoned is counted as (nginx's 499): the client never sees it,
    /// but the request metrics and the access log get a status of its own.
    public static let clientClosedRequest = Problem(
        HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request"), slug: "client-closed-request",
        title: "Client closed request", detail: "The connection ended before the request was complete.")

    public static let internalError = Problem(
        .internalServerError, slug: "internal", title: "Internal server error",
        detail: "Something went wrong on our side. Quote the request id when reporting it.")
}

// MARK: Encoding

extension Problem {
    private struct Body: Codable {
        let type: String
        let title: String
        let status: Int
        let detail: String?
        let instance: String?
        let requestID: String?
        let errors: [FieldError]?

        enum CodingKeys: String, CodingKey {
            case type, title, status, detail, instance, errors
            case requestID = "request_id"
        }
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    /// The problem document as JSON; without a request id only to be kept (`stored`).
    private func document(path: String?, requestID: String?) -> Data {
        let body = Body(
            type: type, title: title, status: status.code, detail: detail, instance: path,
            requestID: requestID, errors: errors.isEmpty ? nil : errors)
        // Encoding these plain strings and numbers cannot fail.
        return (try? Self.encoder.encode(body)) ?? Data(#"{"type":"urn:emporium:problem:internal"}"#.utf8)
    }

    /// The problem document as a response to the request with this id.
    public func response(path: String, requestID: String) -> Response {
        let data = document(path: path, requestID: requestID)
        var headers = headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The problem as kept with an idempotency key: no instance and no request id, since the
    /// answer goes again to other requests.
    var stored: Data { document(path: nil, requestID: nil) }

    /// The problem a kept document describes, or nil when it is not one.
    init?(stored data: Data) {
        guard let body = try? JSONDecoder().decode(Body.self, from: data), body.type.hasPrefix(Self.typePrefix),
            (400...599).contains(body.status)
        else { return nil }
        self.init(
            HTTPResponse.Status(code: body.status), slug: String(body.type.dropFirst(Self.typePrefix.count)), title: body.title,
            detail: body.detail, errors: body.errors ?? [])
    }
}
