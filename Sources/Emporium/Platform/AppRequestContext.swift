import EmporiumCore
public import Foundation
public import Hummingbird
import Logging
import NIOCore

/// What travels with every request: the request id, the client's address and the limits
/// that apply. Middleware fills it in before any handler runs.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request's id, also in `X-Request-ID` and in every log line of the request.
    public var requestID: String = ""
    /// The client's address as the trusted proxy reported it, when proxies are trusted.
    var forwardedClientAddress: String?
    private let channel: any Channel
    /// The largest request body a handler may read.
    public var bodyLimit: Int = AppConfiguration.defaultMaxBodyBytes

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The peer's IP address, or the forwarded client's when proxies are trusted. Computed
    /// on demand: most requests never ask.
    public var clientAddress: String {
        forwardedClientAddress ?? channel.remoteAddress?.ipAddress ?? "local"
    }

    public var maxUploadSize: Int { bodyLimit }

    /// Every JSON response is encoded alike: dates as `Timestamp` text, slashes unescaped.
    public var responseEncoder: JSONEncoder { Self.encoder }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.string(from: date))
        }
        return encoder
    }()
}

extension AppRequestContext {
    /// The id in the path parameter `name`. A malformed id names nothing, like an unknown
    /// one, so both are the same 404.
    func pathID<Entity>(_ name: String = "id", notFound detail: String) throws -> ID<Entity> {
        guard let text = parameters.get(name), let id = ID<Entity>(text) else { throw Problem.notFound(detail) }
        return id
    }
}
