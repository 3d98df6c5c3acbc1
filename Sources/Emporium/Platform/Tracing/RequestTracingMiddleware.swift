import HTTPTypes
import Hummingbird
import Tracing

/// Puts the request into the task's service context: its id always (so that log lines
/// written away from the request's own logger, like the slow-query log, still name it), and
/// with tracing on a server span that continues the caller's W3C `traceparent`. Everything
/// the request does — statements, payment and webhook calls — becomes a child of that span.
///
/// Hummingbird's own `TracingMiddleware` is not used: it records the query string and the
/// raw path, and both can carry what a customer typed (a search, an e-mail address). This
/// one records the route template only.
struct RequestTracingMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let tracer: (any Tracer)?

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var serviceContext = ServiceContext.current ?? .topLevel
        serviceContext.requestID = context.requestID
        guard let tracer else {
            return try await ServiceContext.$current.withValue(serviceContext) { try await next(request, context) }
        }
        serviceContext.activeTracer = tracer
        tracer.extract(request.headers, into: &serviceContext, using: HTTPFieldsExtractor())
        let method = request.method.rawValue
        let span = tracer.startSpan(method, context: serviceContext, ofKind: .server)
        span.attributes["http.request.method"] = method
        span.attributes["emporium.request_id"] = context.requestID
        do {
            let response = try await ServiceContext.$current.withValue(span.context) { try await next(request, context) }
            finish(span, status: Int(response.status.code), route: context.endpointPath)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            span.attributes["error.type"] = String(describing: type(of: error))
            finish(span, status: status, route: context.endpointPath)
            throw error
        }
    }

    private func finish(_ span: any Span, status: Int, route: String?) {
        if let route {
            span.operationName = span.operationName + " " + route
            span.attributes["http.route"] = route
        }
        span.attributes["http.response.status_code"] = status
        if status >= 500 { span.setStatus(.init(code: .error)) }
        span.end()
    }
}

private struct HTTPFieldsExtractor: Extractor {
    func extract(key: String, from headers: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { headers[$0] }
    }
}
