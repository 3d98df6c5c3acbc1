public import HTTPTypes
public import Hummingbird
import Synchronization

/// Every route the API answers, recorded as it is added to the router. It answers which
/// methods a path allows (for 405 and `Allow`) and lets the tests compare the router with
/// the OpenAPI document.
public final class RouteTable: Sendable {
    public struct Route: Hashable, Sendable {
        public let method: HTTPRequest.Method
        /// The path as Hummingbird writes it: `/v1/products/:id`.
        public let path: String
        /// Who may call it.
        public let access: Access

        /// The path as OpenAPI writes it: `/v1/products/{id}`.
        public var openAPIPath: String {
            path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
                segment.hasPrefix(":") ? "{\(segment.dropFirst())}" : String(segment)
            }.joined(separator: "/")
        }
    }

    private let storage = Mutex<[Route]>([])

    public init() {}

    public var routes: [Route] { storage.withLock { $0 } }

    func record(_ route: Route) {
        storage.withLock { $0.append(route) }
    }

    /// The methods registered for a concrete request path; empty when no route matches it.
    func allowedMethods(forPath path: String) -> [HTTPRequest.Method] {
        let segments = Self.segments(path)
        var methods: [HTTPRequest.Method] = []
        for route in routes where Self.matches(pattern: Self.segments(route.path), path: segments) {
            if !methods.contains(route.method) { methods.append(route.method) }
            if route.method == .get, !methods.contains(.head) { methods.append(.head) }
        }
        return methods
    }

    private static func segments(_ path: String) -> [Substring] {
        path.split(separator: "/")
    }

    private static func matches(pattern: [Substring], path: [Substring]) -> Bool {
        if pattern.last == "**" { return path.count >= pattern.count - 1 && zip(pattern.dropLast(), path).allSatisfy(segmentMatches) }
        return pattern.count == path.count && zip(pattern, path).allSatisfy(segmentMatches)
    }

    private static func segmentMatches(_ pattern: Substring, _ segment: Substring) -> Bool {
        pattern == segment || pattern.hasPrefix(":") || pattern == "*"
    }
}

/// Adds routes to the router and records them in the route table, so that no route can
/// exist without the table knowing. Capabilities register their routes through this.
public struct RouteRegistrar {
    let router: Router<AppRequestContext>
    let table: RouteTable
    let authenticator: Authenticator

    public typealias Handler<Output: ResponseGenerator> = @Sendable (Request, AppRequestContext) async throws -> Output

    /// An anonymous route.
    public func on<Output: ResponseGenerator>(
        _ method: HTTPRequest.Method, _ path: String, use handler: @escaping Handler<Output>
    ) {
        on(method, path, access: .anonymous, use: handler)
    }

    func on<Output: ResponseGenerator>(
        _ method: HTTPRequest.Method, _ path: String, access: Access, use handler: @escaping Handler<Output>
    ) {
        table.record(.init(method: method, path: path, access: access))
        router.on(RouterPath(path), method: method, use: handler)
    }

    public func get<Output: ResponseGenerator>(_ path: String, use handler: @escaping Handler<Output>) {
        on(.get, path, use: handler)
    }

    public func post<Output: ResponseGenerator>(_ path: String, use handler: @escaping Handler<Output>) {
        on(.post, path, use: handler)
    }

    public func put<Output: ResponseGenerator>(_ path: String, use handler: @escaping Handler<Output>) {
        on(.put, path, use: handler)
    }

    public func patch<Output: ResponseGenerator>(_ path: String, use handler: @escaping Handler<Output>) {
        on(.patch, path, use: handler)
    }

    public func delete<Output: ResponseGenerator>(_ path: String, use handler: @escaping Handler<Output>) {
        on(.delete, path, use: handler)
    }
}
