import Tracing

/// The service-context entries Emporium adds besides the span context itself (which the
/// tracer keeps). The tracer rides along so that code far from the application's assembly —
/// a payment call, a webhook delivery, a database statement — can make spans without being
/// handed one, and so that several applications in one process (the tests) each trace to
/// their own collector: nothing is bootstrapped process-wide. The request id lets log lines
/// written away from the request's own logger (the slow-query log) still name their request.
enum ActiveTracerKey: ServiceContextKey {
    typealias Value = any Tracer
    static var nameOverride: String? { "emporium.tracer" }
}

enum RequestIDKey: ServiceContextKey {
    typealias Value = String
    static var nameOverride: String? { "emporium.request-id" }
}

extension ServiceContext {
    var activeTracer: (any Tracer)? {
        get { self[ActiveTracerKey.self] }
        set { self[ActiveTracerKey.self] = newValue }
    }

    var requestID: String? {
        get { self[RequestIDKey.self] }
        set { self[RequestIDKey.self] = newValue }
    }
}
