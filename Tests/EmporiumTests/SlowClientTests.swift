import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Clients that hold connections without finishing requests, on the real binary's socket.
@Suite struct SlowClientTests {
    /// A plain TCP connection to the server, for sending a request a piece at a time.
    final class RawConnection {
        let descriptor: Int32

        init(port: Int) throws {
            descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw TestFailure("cannot connect to port \(port)") }
            // Reads give up after 100 ms, so a test can poll.
            var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        func send(_ text: String) {
            _ = text.withCString { Glibc.send(descriptor, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        }

        /// What arrived until the server closed the connection, or nil when it is still open after `limit`.
        ///
        /// The socket is read to its end after the deadline too: on a busy machine this task
        /// may wake long after it, and what counts is whether the server closed the
        /// connection, not how promptly the test was scheduled. Only a read that finds
        /// nothing waiting after the deadline means "still open".
        func readUntilClosed(within limit: Duration) async -> String? {
            var received = [UInt8]()
            let deadline = ContinuousClock.now + limit
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let late = ContinuousClock.now >= deadline
                let count = recv(descriptor, &buffer, buffer.count, 0)
                if count == 0 { return String(decoding: received, as: UTF8.self) }
                if count > 0 {
                    received += buffer[0..<count]
                } else if errno != EAGAIN && errno != EWOULDBLOCK {
                    return String(decoding: received, as: UTF8.self)  // reset by the server
                } else if late {
                    return nil
                } else {
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
        }

        func close() { shutdown(descriptor, Int32(SHUT_RDWR)) }

        deinit { Glibc.close(descriptor) }
    }

    func withServer(_ environment: [String: String], _ body: (BinaryRun, Int) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-slow-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let server = try BinaryRun.start(
            ["serve", "--port", "0", "--database-url", "sqlite://\(folder.path)/shop.sqlite"], environment: environment, in: folder)
        let port = try #require(try await server.listeningPort(), "the server did not start: \(server.log)")
        do {
            try await body(server, port)
        } catch {
            _ = await server.stop()
            throw error
        }
        #expect(await server.stop() == 0)
    }

    @Test func aRequestTrickledInIsCutOffAndAnAbortIsNoError() async throws {
        try await withServer(["EMPORIUM_REQUEST_TIMEOUT": "1", "EMPORIUM_TEST_PAYMENTS": "false"]) { server, port in
            // Headers complete, the body never: the connection is closed after the timeout.
            let slow = try RawConnection(port: port)
            slow.send("POST /v1/auth/login HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"em")
            #expect(await slow.readUntilClosed(within: .seconds(20)) != nil, "the trickling connection stayed open")
            // Headers never complete either.
            let slower = try RawConnection(port: port)
            slower.send("GET /health/live HTTP/1.1\r\nHost: sh")
            #expect(await slower.readUntilClosed(within: .seconds(20)) != nil)
            // A client that goes away mid-body is a client abort, not a server error.
            let leaving = try RawConnection(port: port)
            leaving.send("POST /v1/auth/login HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":")
            try await Task.sleep(for: .milliseconds(200))
            leaving.close()
            #expect(try await server.waitForLine(containing: "client went away"), "\(server.log)")
            #expect(server.alarmingLines.isEmpty, "\(server.alarmingLines)")
            #expect(!server.log.contains("status=500"))
        }
    }

    @Test func oneAddressHoldsAtMostItsShareOfConnections() async throws {
        try await withServer(["EMPORIUM_MAX_CONNECTIONS_PER_ADDRESS": "3"]) { server, port in
            let held = try (0..<3).map { _ in try RawConnection(port: port) }
            // Make sure the server has seen all three before the fourth arrives.
            for connection in held { connection.send("GET /health/live HTTP/1.1\r\nHost: shop\r\n\r\n") }
            try await Task.sleep(for: .milliseconds(300))
            let extra = try RawConnection(port: port)
            extra.send("GET /health/live HTTP/1.1\r\nHost: shop\r\n\r\n")
            let answer = await extra.readUntilClosed(within: .seconds(10))
            #expect(answer != nil && answer?.contains("200") != true, "\(answer ?? "still open")")
            #expect(try await server.waitForLine(containing: "too many from one address"))
            _ = held.count
        }
    }
}
