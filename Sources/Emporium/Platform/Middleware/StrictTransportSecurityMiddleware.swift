import HTTPTypes
import Hummingbird

/// `Strict-Transport-Security` on every response when the server itself speaks HTTPS: browsers
/// then use HTTPS for this host and its subdomains for two years, and refuse to be talked down
/// to HTTP. Sent only over TLS (RFC 6797 §7.2); behind a proxy that terminates TLS the proxy
/// sets it (deploy/haproxy.cfg).
struct StrictTransportSecurityMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    static let value = "max-age=63072000; includeSubDomains"

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.strictTransportSecurity] = Self.value
        return response
    }
}

extension HTTPField.Name {
    static let strictTransportSecurity = HTTPField.Name("Strict-Transport-Security")!
}
