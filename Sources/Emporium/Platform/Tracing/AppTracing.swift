import EmporiumStorage
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// Tracing and the slow-query log as configured: swift-otel's tracer exporting over OTLP/HTTP
/// when `--otel-endpoint` is set, and the statement observer when either that or
/// `--slow-query-threshold` is on. With both off nothing is added to a request or a
/// statement: no middleware beyond the request id's, no database wrapper.
struct AppTracing: Sendable {
    /// `nil` when tracing is off.
    let tracer: (any Tracer)?
    /// swift-otel's batching span processor and exporter; run them in the service group.
    let services: [any Service]
    let slowQueryThreshold: Duration?
    let logger: Logger

    init(_ configuration: AppConfiguration, logger: Logger) throws {
        self.logger = logger
        slowQueryThreshold = configuration.slowQueryThreshold
        guard let endpoint = configuration.otelEndpoint else {
            tracer = nil
            services = []
            return
        }
        var otel = OTel.Configuration.default
        otel.serviceName = configuration.otelServiceName
        otel.diagnosticLogger = .custom(logger)
        otel.diagnosticLogLevel = .warning
        otel.propagators = [.traceContext]
        otel.metrics.enabled = false
        otel.logs.enabled = false
        otel.traces.enabled = true
        otel.traces.exporter = .otlp
        otel.traces.otlpExporter.protocol = .httpProtobuf
        otel.traces.otlpExporter.endpoint = Self.tracesURL(endpoint)
        // Spans leave within a second; a full queue drops spans rather than slow a request.
        otel.traces.batchSpanProcessor.scheduleDelay = .seconds(1)
        otel.traces.batchSpanProcessor.maxQueueSize = 8192
        let backend = try OTel.makeTracingBackend(configuration: otel)
        tracer = backend.factory
        services = [backend.service]
    }

    /// The collector's base URL with OTLP/HTTP's traces path; a URL that already ends in it
    /// is taken as it is.
    static func tracesURL(_ endpoint: String) -> String {
        if endpoint.hasSuffix("/v1/traces") { return endpoint }
        return (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint) + "/v1/traces"
    }

    /// The database with its statements observed, or as it is when there is nothing to observe.
    func instrument(_ database: any Database) -> any Database {
        guard tracer != nil || slowQueryThreshold != nil else { return database }
        return TracedDatabase(
            base: database,
            observer: StatementObserver(dialect: database.dialect, slowThreshold: slowQueryThreshold, logger: logger))
    }

    /// The request middleware (the request id in the service context, and the server span),
    /// or `nil` when neither tracing nor the slow-query log would read them.
    var middleware: RequestTracingMiddleware? {
        tracer != nil || slowQueryThreshold != nil ? RequestTracingMiddleware(tracer: tracer) : nil
    }

    /// A service that runs with the tracer in its service context, so that what it does in
    /// the background (a webhook delivery, an e-mail) is traced too, each job as a trace of
    /// its own. The service as it is when tracing is off.
    func scoped(_ service: any Service) -> any Service {
        guard let tracer else { return service }
        return TracerScopedService(base: service, tracer: tracer)
    }
}

private struct TracerScopedService: Service {
    let base: any Service
    let tracer: any Tracer

    func run() async throws {
        var context = ServiceContext.current ?? .topLevel
        context.activeTracer = tracer
        try await ServiceContext.$current.withValue(context) { try await base.run() }
    }
}
