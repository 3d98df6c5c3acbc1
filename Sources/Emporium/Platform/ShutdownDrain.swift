import Hummingbird
public import Logging
import Synchronization

/// Whether the node is draining: it was told to stop, and says so on `/health/ready` for a
/// while before it stops accepting connections.
///
/// A balancer learns that a node is going only from its health checks. Closing the
/// listening socket and the idle keep-alive connections at once (what a graceful shutdown
/// does) races the balancer's next request on such a connection: it gets a 502. So on
/// SIGTERM the node first answers 503 on `/health/ready` for `--shutdown-drain` seconds while
/// serving everything else as usual; by then the balancer has taken it out of rotation and
/// sends it nothing new, and only then does the graceful shutdown start.
public final class ShutdownDrain: Sendable {
    private let draining = Mutex(false)
    private let logger: Logger?

    public init(logger: Logger? = nil) {
        self.logger = logger
    }

    public var isDraining: Bool { draining.withLock { $0 } }

    /// From now on `/health/ready` answers 503. There is no way back: a draining node stops.
    public func begin(because reason: String, for period: Duration) {
        draining.withLock { $0 = true }
        logger?.notice("\(reason): draining for \(period.components.seconds) s (/health/ready answers 503), then shutting down")
    }

    /// Says that the rest of the drain is skipped.
    public func cutShort(because reason: String) {
        logger?.notice("\(reason) again: shutting down without waiting for the drain to end")
    }
}

/// Answers `/health/ready` with 503 and `Retry-After` while the node drains; every other
/// request goes on as usual.
struct ShutdownDrainMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let drain: ShutdownDrain

    static let problem = Problem(
        .serviceUnavailable, slug: "unavailable", title: "Service unavailable",
        detail: "This node is shutting down; send requests to another.", headers: [.retryAfter: "5"])

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if request.uri.path == "/health/ready", drain.isDraining {
            throw Self.problem
        }
        return try await next(request, context)
    }
}
