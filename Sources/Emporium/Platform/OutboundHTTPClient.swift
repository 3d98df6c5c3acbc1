import AsyncHTTPClient
import Foundation
import NIOCore

/// An HTTP client for calls to other systems (webhook receivers, the payment gateway, the
/// carrier), each kind with one pool that keeps connections to busy peers open. It never
/// follows a redirect: a 3xx is an answer like any other, and following it would lead past a
/// webhook's address checks or send a secret key to another host.
final class OutboundHTTPClient: Sendable {
    let client: HTTPClient
    /// The whole request, connecting included.
    let timeout: TimeAmount

    init(timeout: TimeInterval) {
        let amount = TimeAmount.milliseconds(Int64(max(0.001, timeout) * 1000))
        self.timeout = amount
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: amount, read: amount), decompression: .disabled)
        configuration.connectionPool = .init(idleTimeout: .seconds(60))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    deinit {
        // An HTTPClient must be shut down before it goes. The application has no shutdown
        // hook for this one, so its last owner does it; the task keeps the client alive until
        // the shutdown has finished.
        let client = client
        Task { try? await client.shutdown() }
    }
}
