import Foundation
import HTTPTypes
import Hummingbird

/// Refuses a request before any handler reads it: 429 when the client is over its rate,
/// 413 when the declared body is over the limit. A body without a declared length is
/// checked as it is read (`Request.decodeJSON`).
struct RequestLimitsMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let rateLimiter: RateLimiter?

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if let rateLimiter {
            let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
            if let wait = rateLimiter.acquire(key: context.clientAddress, now: now) {
                throw Problem.rateLimited(retryAfterSeconds: max(1, Int(wait.rounded(.up))))
            }
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > context.bodyLimit {
            throw Problem.payloadTooLarge(limit: context.bodyLimit)
        }
        return try await next(request, context)
    }
}
