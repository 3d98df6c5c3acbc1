import EmporiumStorage
import HTTPTypes
import Metrics
import Prometheus
import Synchronization

/// The application's metrics, in a registry of its own (no global `MetricsSystem`), so
/// several applications in one process — as in the tests — keep separate figures.
final class AppMetrics: Sendable {
    private struct EndpointKey: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: Int
    }

    private struct EndpointMetrics: Sendable {
        let requests: Metrics.Counter
        let duration: Metrics.Timer
    }

    let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let inFlight: Metrics.Meter
    private let endpoints = Mutex<[EndpointKey: EndpointMetrics]>([:])
    private let databaseMaximum: Metrics.Gauge
    private let databaseInUse: Metrics.Gauge
    private let databaseWaiting: Metrics.Gauge
    private struct Handle: Hashable {
        let label: String
        let dimensions: [String]
    }
    private let counters = Mutex<[Handle: Metrics.Counter]>([:])
    private let timers = Mutex<[Handle: Metrics.Timer]>([:])
    private let gauges = Mutex<[Handle: Metrics.Gauge]>([:])
    /// Read at scrape time: figures that live in the database (queue depth, outbox lag).
    private let refreshers = Mutex<[@Sendable () async -> Void]>([])

    init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
        self.registry = registry
        self.factory = factory
        inFlight = Metrics.Meter(label: "emporium_http_requests_in_flight", factory: factory)
        databaseMaximum = Metrics.Gauge(label: "emporium_db_connections_max", factory: factory)
        databaseInUse = Metrics.Gauge(label: "emporium_db_connections_in_use", factory: factory)
        databaseWaiting = Metrics.Gauge(label: "emporium_db_waiting", factory: factory)
    }

    func requestStarted() { inFlight.increment() }

    /// Counts a finished request and takes it out of the in-flight gauge. Handles are made once per route, method and status and
    /// then found in a dictionary, so a request costs one short lock and two atomic updates.
    func recordRequest(route: String, method: HTTPRequest.Method, status: Int, nanoseconds: UInt64) {
        let key = EndpointKey(route: route, method: method, status: status)
        let metrics = endpoints.withLock { cache in
            if let existing = cache[key] { return existing }
            let dimensions = [("route", route), ("method", method.rawValue), ("status", String(status))]
            let made = EndpointMetrics(
                requests: Metrics.Counter(label: "emporium_http_requests_total", dimensions: dimensions, factory: factory),
                duration: Metrics.Timer(
                    label: "emporium_http_request_duration_seconds", dimensions: dimensions, factory: factory))
            cache[key] = made
            return made
        }
        inFlight.decrement()
        metrics.requests.increment()
        metrics.duration.recordNanoseconds(Int64(clamping: nanoseconds))
    }

    /// A counter by label and dimensions, made once and then found in a dictionary.
    func counter(_ label: String, _ dimensions: [(String, String)] = []) -> Metrics.Counter {
        let key = Handle(label: label, dimensions: dimensions.flatMap { [$0.0, $0.1] })
        return counters.withLock { cache in
            if let existing = cache[key] { return existing }
            let made = Metrics.Counter(label: label, dimensions: dimensions, factory: factory)
            cache[key] = made
            return made
        }
    }

    func timer(_ label: String, _ dimensions: [(String, String)] = []) -> Metrics.Timer {
        let key = Handle(label: label, dimensions: dimensions.flatMap { [$0.0, $0.1] })
        return timers.withLock { cache in
            if let existing = cache[key] { return existing }
            let made = Metrics.Timer(label: label, dimensions: dimensions, factory: factory)
            cache[key] = made
            return made
        }
    }

    func gauge(_ label: String, _ dimensions: [(String, String)] = []) -> Metrics.Gauge {
        let key = Handle(label: label, dimensions: dimensions.flatMap { [$0.0, $0.1] })
        return gauges.withLock { cache in
            if let existing = cache[key] { return existing }
            let made = Metrics.Gauge(label: label, dimensions: dimensions, factory: factory)
            cache[key] = made
            return made
        }
    }

    /// Runs `refresh` before every scrape, to set gauges from the database.
    func onScrape(_ refresh: @escaping @Sendable () async -> Void) {
        refreshers.withLock { $0.append(refresh) }
    }

    /// Sets the gauges that are read at scrape time.
    func refresh() async {
        for refresh in refreshers.withLock({ $0 }) { await refresh() }
    }

    /// The Prometheus text, with the database gauges read at scrape time.
    func exposition(database: DatabaseStatistics) -> [UInt8] {
        databaseMaximum.record(database.maximumConnections)
        databaseInUse.record(database.inUse)
        databaseWaiting.record(database.waiting)
        return registry.emitToBuffer()
    }
}
