import HTTPTypes
import Hummingbird

/// Headers every response carries: no MIME sniffing, no referrer, no caching unless the route
/// set its own `Cache-Control`, and a Content-Security-Policy unless the page set its own:
/// the back office's under `/admin` (so its error answers and assets carry it too), and for
/// everything else one that lets a document load nothing and be framed by no one, since an
/// API's answers are never pages to render.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    static let apiPolicy = "default-src 'none'; frame-ancestors 'none'"

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "no-referrer"
        if response.headers[.cacheControl] == nil {
            response.headers[.cacheControl] = "no-store"
        }
        if response.headers[.contentSecurityPolicy] == nil {
            let path = request.uri.path
            if path == "/admin" || path.hasPrefix("/admin/") {
                response.headers = AdminPages.secured(response.headers)
            } else {
                response.headers[.contentSecurityPolicy] = Self.apiPolicy
            }
        }
        return response
    }
}

extension HTTPField.Name {
    static let xContentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}
