import Foundation
import Hummingbird
import Logging

/// One `info` line per request with method, path, status and duration. High-throughput
/// nodes whose load balancer already logs access can turn it off with `--log-level notice`.
struct AccessLogMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard context.logger.logLevel <= .info else { return try await next(request, context) }
        let start = DispatchTime.now().uptimeNanoseconds
        let response = try await next(request, context)
        let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        context.logger.info(
            "request",
            metadata: [
                "method": .string(request.method.rawValue),
                // The path only: query strings can carry search terms and tokens.
                "path": .string(request.uri.path),
                "status": .stringConvertible(response.status.code),
                "duration_ms": .string(String(format: "%.2f", milliseconds)),
            ])
        return response
    }
}
