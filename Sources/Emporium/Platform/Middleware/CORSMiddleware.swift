import HTTPTypes
import Hummingbird

/// Lets browser storefronts on the configured origins call the API. Off unless origins are
/// configured: a browser then refuses cross-origin responses, as it should for an API that
/// has not said whom it trusts.
///
/// A preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered here with the
/// methods the route table has for the path; other requests get `Access-Control-Allow-Origin`
/// on their response, error responses included, so that a storefront can read problem
/// documents. Credentials (cookies) are never allowed: the API authenticates with bearer
/// tokens.
struct CORSMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let allowedOrigins: Set<String>
    let allowsAnyOrigin: Bool
    let routes: RouteTable

    static let allowedHeaders = [
        "Authorization", "Content-Type", "Idempotency-Key", "If-Match", "If-None-Match", "X-Cart-Token", "X-Request-ID",
    ].joined(separator: ", ")
    static let exposedHeaders = ["ETag", "Location", "Retry-After", "X-Request-ID"].joined(separator: ", ")

    init(origins: [String], routes: RouteTable) {
        allowsAnyOrigin = origins.contains("*")
        allowedOrigins = Set(origins.filter { $0 != "*" })
        self.routes = routes
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let origin = request.headers[.origin].flatMap { allowsAnyOrigin || allowedOrigins.contains($0) ? $0 : nil }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            let methods = routes.allowedMethods(forPath: request.uri.path)
            guard !methods.isEmpty else {
                return Problem.notFound().response(path: request.uri.path, requestID: context.requestID)
            }
            var response = Response(status: .noContent)
            if let origin {
                response.headers[.accessControlAllowOrigin] = allowsAnyOrigin ? "*" : origin
                response.headers[.accessControlAllowMethods] = methods.map(\.rawValue).joined(separator: ", ")
                response.headers[.accessControlAllowHeaders] = Self.allowedHeaders
                response.headers[.accessControlMaxAge] = "600"
            }
            response.headers[.vary] = "Origin"
            return response
        }
        var response = try await next(request, context)
        if let origin {
            response.headers[.accessControlAllowOrigin] = allowsAnyOrigin ? "*" : origin
            response.headers[.accessControlExposeHeaders] = Self.exposedHeaders
        }
        // The answer depends on the Origin header; caches must keep one per origin.
        if !allowsAnyOrigin, !response.headers[values: .vary].contains("Origin") {
            response.headers.append(HTTPField(name: .vary, value: "Origin"))
        }
        return response
    }
}
