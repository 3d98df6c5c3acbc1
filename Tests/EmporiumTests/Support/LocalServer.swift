import Hummingbird

/// Serves `router` on a free loopback port while `body` runs with that port, for the tests'
/// stand-ins of third parties (the Stripe double, the fake carrier); the server stops after.
func withLocalServer<Result: Sendable>(
    _ router: Router<BasicRequestContext>, named name: String, _ body: (Int) async throws -> Result
) async throws -> Result {
    let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) })
    let server = Task { try await app.runService() }
    defer { server.cancel() }
    var ports = portStream.makeAsyncIterator()
    guard let port = await ports.next(), port > 0 else { throw TestFailure("\(name) did not start") }
    return try await body(port)
}
