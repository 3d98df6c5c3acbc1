import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error of the token and revocation endpoints in the shape RFC 6749 §5.2 prescribes
/// (`error`, `error_description`), which OAuth client libraries parse. Everywhere else the
/// API answers with problem documents.
struct OAuthError: Error, Sendable {
    let code: String
    let description: String

    static func invalidRequest(_ description: String) -> OAuthError { .init(code: "invalid_request", description: description) }
    static func invalidClient(_ description: String) -> OAuthError { .init(code: "invalid_client", description: description) }
    static func invalidGrant(_ description: String) -> OAuthError { .init(code: "invalid_grant", description: description) }
    static func invalidScope(_ description: String) -> OAuthError { .init(code: "invalid_scope", description: description) }
    static func unauthorizedClient(_ description: String) -> OAuthError { .init(code: "unauthorized_client", description: description) }
    static func unsupportedGrantType(_ description: String) -> OAuthError {
        .init(code: "unsupported_grant_type", description: description)
    }

    /// 401 for a client that failed to authenticate (with a challenge when it tried Basic),
    /// 400 for everything else.
    func response(basicAttempted: Bool) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        let status: HTTPResponse.Status = code == "invalid_client" ? .unauthorized : .badRequest
        if code == "invalid_client", basicAttempted { headers[.wwwAuthenticate] = #"Basic realm="emporium""# }
        let body = (try? JSONSerialization.data(
            withJSONObject: ["error": code, "error_description": description], options: [.sortedKeys])) ?? Data()
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
