import Foundation
import HTTPTypes
import Hummingbird

/// Counts requests by route template (not by raw path, which would make a series per
/// product id), method and status, times them, and tracks how many are in flight.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let metrics: AppMetrics

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        metrics.requestStarted()
        // The problem middleware inside turns every error into a response, so the status
        // here is what the client receives.
        let response = try await next(request, context)
        let route = context.endpointPath.flatMap { $0 == "NotFound" ? nil : $0 } ?? "unmatched"
        metrics.recordRequest(
            route: route, method: request.method, status: response.status.code,
            nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
        return response
    }
}
