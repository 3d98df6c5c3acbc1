import AsyncHTTPClient
import Emporium
import Foundation
import NIOCore
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `--trust-forwarded-for` with a list of proxies: `X-Forwarded-For` counts only on their
/// connections, and the client is the right-most address that is not one of them.
@Suite struct TrustedProxiesTests {
    @Test func listsOfAddressesAndBlocksParse() throws {
        let proxies = try #require(TrustedProxies(listing: "10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,::1"))
        #expect(proxies.client(peer: "10.1.2.3", forwardedFor: "203.0.113.9") == "203.0.113.9")
        #expect(proxies.client(peer: "192.0.2.7", forwardedFor: "203.0.113.9") == "203.0.113.9")
        #expect(proxies.client(peer: "192.0.2.8", forwardedFor: "203.0.113.9") == nil)
        #expect(proxies.client(peer: "2001:db8::5", forwardedFor: "2001:db9::1") == "2001:db9::1")
        #expect(proxies.client(peer: "::1", forwardedFor: "203.0.113.9") == "203.0.113.9")
        #expect(proxies.client(peer: "::ffff:10.0.0.1", forwardedFor: "203.0.113.9") == "203.0.113.9")
        #expect(proxies.client(peer: "11.0.0.1", forwardedFor: "203.0.113.9") == nil)
        // A forged entry on the left does not matter; trusted hops on the right are skipped.
        #expect(proxies.client(peer: "10.0.0.1", forwardedFor: "1.2.3.4, 203.0.113.9, 10.9.9.9") == "203.0.113.9")
        // Only proxies: the left-most of them is the client.
        #expect(proxies.client(peer: "10.0.0.1", forwardedFor: "10.0.0.2, 10.0.0.3") == "10.0.0.2")
        // Junk the client wrote, behind only trusted hops: the last trusted hop.
        #expect(proxies.client(peer: "10.0.0.1", forwardedFor: "not-an-address, 10.0.0.3") == "10.0.0.3")
        #expect(proxies.client(peer: "10.0.0.1", forwardedFor: nil) == nil)

        for bad in ["10.0.0.0/33", "10.0.0/8", "example.com", "::1/129", "10.0.0.0/8/1", "10.0.0.0/-1"] {
            #expect(TrustedProxies(listing: bad) == nil, "\(bad)")
        }
        #expect(TrustedProxies(listing: "") == .nobody)
        let any: TrustedProxies = true
        #expect(any.client(peer: "11.0.0.1", forwardedFor: "1.2.3.4, 5.6.7.8") == "5.6.7.8")
        #expect(TrustedProxies.nobody.client(peer: "10.0.0.1", forwardedFor: "1.2.3.4") == nil)
    }

    @Test func theSettingTakesBooleansAndLists() throws {
        func parse(_ text: String) throws -> TrustedProxies {
            try AppConfiguration(flags: ["trust-forwarded-for": text], environment: [:]).trustForwardedFor
        }
        #expect(try parse("true") == .anyPeer)
        #expect(try parse("false") == .nobody)
        #expect(try parse("127.0.0.1/32") == TrustedProxies(listing: "127.0.0.1/32"))
        #expect(throws: ConfigurationError.self) { try parse("127.0.0.1/40") }
    }

    /// Runs the binary with a rate limit of 1 a second (a burst of 3) and `trust`.
    func withServer(trust: String, _ body: (Int) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-proxies-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try BinaryRun.start(
            [
                "serve", "--port", "0", "--database-url", "sqlite://\(folder.path)/shop.sqlite",
                "--mail-folder", folder.appendingPathComponent("mail").path, "--shutdown-drain", "0",
                "--rate-limit", "1", "--rate-limit-burst", "3", "--trust-forwarded-for", trust,
            ],
            in: folder)
        defer { if run.process.isRunning { run.process.send(SIGKILL) } }
        let port = try #require(try await run.listeningPort(), "the server never said where it listens: \(run.log)")
        try await body(port)
        #expect(await run.stop() == 0)
    }

    /// The statuses of ten requests sent at once (well within the second a token takes to come
    /// back), each with the `X-Forwarded-For` `header(index)`.
    func statuses(_ port: Int, _ header: @escaping @Sendable (Int) -> String) async throws -> [UInt] {
        try await withThrowingTaskGroup(of: UInt.self) { group in
            for index in 0..<10 {
                group.addTask {
                    var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/health/live")
                    request.headers.add(name: "X-Forwarded-For", value: header(index))
                    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                    _ = try await response.body.collect(upTo: 1 << 16)
                    return response.status.code
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    @Test func theRateLimitKeysOnTheAddressBehindTrustedProxies() async throws {
        try await withServer(trust: "127.0.0.1/32, ::1") { port in
            // Each client its own bucket.
            let distinct = try await statuses(port) { "203.0.113.\($0 + 1)" }
            #expect(distinct.allSatisfy { $0 == 200 }, "\(distinct)")
            // One client, whatever it writes on the left.
            let forged = try await statuses(port) { "198.51.100.\($0 + 1), 203.0.113.50" }
            #expect(forged.contains(429), "\(forged)")
            // A trusted hop on the right is skipped: the client is the address before it.
            let chained = try await statuses(port) { _ in "203.0.113.60, 127.0.0.1" }
            #expect(chained.contains(429), "\(chained)")
            #expect(try await statuses(port) { _ in "203.0.113.61, 127.0.0.1" }.contains(200))
        }
    }

    @Test func anUntrustedPeersHeaderIsIgnored() async throws {
        try await withServer(trust: "192.0.2.0/24") { port in
            let rotating = try await statuses(port) { "203.0.113.\($0 + 1)" }
            #expect(rotating.contains(429), "keyed by the peer, not the header: \(rotating)")
        }
    }
}
