import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `emporium serve --tls-cert-file … --tls-key-file …` as an operator starts it: HTTPS with
/// certificates the test makes, HTTP/2 and HTTP/1.1 by ALPN, HSTS only over TLS, no TLS 1.1,
/// and start-up failures that name the flag.
@Suite(.enabled(if: TestCertificates.opensslAvailable, "needs the openssl command line"))
struct TLSTests {
    func withCertificates<Result>(_ body: (TestCertificates) async throws -> Result) async throws -> Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        return try await body(try await TestCertificates.make(in: folder))
    }

    /// Starts the binary on SQLite with `arguments` and returns it with its port, read from
    /// the "listening on https://…" (or http) line.
    func serve(_ arguments: [String], in folder: URL, scheme: String) async throws -> (BinaryRun, Int) {
        let server = try BinaryRun.start(
            ["serve", "--port", "0", "--test-payments", "false", "--database-url", "sqlite://\(folder.path)/shop.sqlite"]
                + arguments,
            in: folder)
        #expect(try await server.waitForLine(containing: "listening on \(scheme)://"), "\(server.log)")
        guard let line = server.lines.first(where: { $0.contains("listening on \(scheme)://") }),
            let range = line.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression),
            let port = Int(line[range].split(separator: ":").last!)
        else {
            _ = await server.stop()
            throw TLSTestError.notListening(server.log)
        }
        return (server, port)
    }

    /// One GET through a client of its own that trusts `ca` (none for plain HTTP).
    func get(
        _ url: String, trusting ca: String? = nil, http1Only: Bool = false, maximumTLSVersion: TLSVersion? = nil,
        timeout: TimeAmount = .seconds(10)
    ) async throws -> HTTPClientResponse {
        var configuration = HTTPClient.Configuration()
        if let ca {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(ca)
            if let maximumTLSVersion {
                tls.minimumTLSVersion = .tlsv1
                tls.maximumTLSVersion = maximumTLSVersion
            }
            configuration.tlsConfiguration = tls
        }
        configuration.httpVersion = http1Only ? .http1Only : .automatic
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let response = try await client.execute(HTTPClientRequest(url: url), timeout: timeout)
            _ = try await response.body.collect(upTo: 1 << 20)
            try await client.shutdown()
            return response
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    @Test func servesHTTP2AndHTTP1OverTLSWithHSTS() async throws {
        try await withCertificates { certificates in
            let (server, port) = try await serve(
                ["--tls-cert-file", certificates.serverCertificate, "--tls-key-file", certificates.serverKey,
                 "--request-timeout", "2"],
                in: certificates.folder, scheme: "https")

            // ALPN picks HTTP/2 when the client offers it…
            let http2 = try await get("https://localhost:\(port)/health/live", trusting: certificates.caCertificate)
            #expect(http2.status == .ok)
            #expect(http2.version == .http2)
            #expect(http2.headers.first(name: "Strict-Transport-Security") == "max-age=63072000; includeSubDomains")
            #expect(http2.headers.first(name: "X-Content-Type-Options") == "nosniff")

            // …and HTTP/1.1 when that is all it offers; the certificate also names 127.0.0.1.
            let http1 = try await get(
                "https://127.0.0.1:\(port)/health/ready", trusting: certificates.caCertificate, http1Only: true)
            #expect(http1.status == .ok)
            #expect(http1.version == .http1_1)
            #expect(http1.headers.first(name: "Strict-Transport-Security") == "max-age=63072000; includeSubDomains")

            // A problem answer carries it too.
            let missing = try await get("https://localhost:\(port)/v1/no-such-thing", trusting: certificates.caCertificate)
            #expect(missing.status == .notFound)
            #expect(missing.headers.first(name: "Strict-Transport-Security") != nil)

            // TLS 1.2 alone is enough (with a forward-secret AEAD suite)…
            let tls12 = try await get(
                "https://localhost:\(port)/health/live", trusting: certificates.caCertificate, maximumTLSVersion: .tlsv12)
            #expect(tls12.status == .ok)

            // …but TLS 1.1 and below are refused. (The client retries a failed handshake until its
            // deadline, then reports the handshake's error.)
            let oldTLS = await #expect(throws: (any Error).self) {
                _ = try await get(
                    "https://localhost:\(port)/health/live", trusting: certificates.caCertificate, maximumTLSVersion: .tlsv11,
                    timeout: .seconds(2))
            }
            #expect(String(describing: oldTLS).contains("PROTOCOL_VERSION"), "\(String(describing: oldTLS))")
            // A client that trusts another authority refuses the server.
            let otherCA = await #expect(throws: (any Error).self) {
                _ = try await get(
                    "https://localhost:\(port)/health/live", trusting: certificates.otherCACertificate, timeout: .seconds(2))
            }
            #expect(String(describing: otherCA).contains("CERTIFICATE_VERIFY_FAILED"), "\(String(describing: otherCA))")
            // Plain HTTP on the TLS port gets no answer.
            await #expect(throws: (any Error).self) {
                _ = try await get("http://127.0.0.1:\(port)/health/live", timeout: .seconds(2))
            }

            // A client that connects and never says hello is closed once the request timeout passes.
            let started = ContinuousClock.now
            #expect(silentConnectionIsClosed(port: port, within: 8))
            #expect(ContinuousClock.now - started >= .seconds(1))

            #expect(await server.stop() == 0)
            #expect(server.alarmingLines.isEmpty, "\(server.log)")
        }
    }

    @Test func plainHTTPSendsNoHSTS() async throws {
        try await withCertificates { certificates in
            let (server, port) = try await serve([], in: certificates.folder, scheme: "http")
            let response = try await get("http://127.0.0.1:\(port)/health/live")
            #expect(response.status == .ok)
            #expect(response.version == .http1_1)
            #expect(response.headers.first(name: "Strict-Transport-Security") == nil)
            #expect(await server.stop() == 0)
        }
    }

    // MARK: Start-up failures name the flag

    func expectStartupFailure(
        _ arguments: [String], in folder: URL, mentioning texts: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let outcome = try await BinaryRun.run(
            ["serve", "--port", "0", "--database-url", "sqlite://\(folder.path)/shop.sqlite"] + arguments, in: folder)
        #expect(outcome.status == 1, sourceLocation: sourceLocation)
        let lines = outcome.standardError.split(separator: "\n")
        #expect(lines.count == 1, "\(outcome.standardError)", sourceLocation: sourceLocation)
        for text in texts {
            #expect(outcome.standardError.contains(text), "expected '\(text)' in: \(outcome.standardError)", sourceLocation: sourceLocation)
        }
    }

    @Test func startupFailsWithOneFileOrAnUnusableOne() async throws {
        try await withCertificates { certificates in
            let folder = certificates.folder
            try await expectStartupFailure(
                ["--tls-cert-file", certificates.serverCertificate], in: folder,
                mentioning: ["--tls-cert-file", "--tls-key-file (EMPORIUM_TLS_KEY_FILE) is not", "both"])
            try await expectStartupFailure(
                ["--tls-key-file", certificates.serverKey], in: folder,
                mentioning: ["--tls-key-file", "--tls-cert-file (EMPORIUM_TLS_CERT_FILE) is not"])
            try await expectStartupFailure(
                ["--tls-cert-file", folder.appendingPathComponent("absent.pem").path, "--tls-key-file", certificates.serverKey],
                in: folder, mentioning: ["--tls-cert-file", "absent.pem", "no such file"])
            try await expectStartupFailure(
                ["--tls-cert-file", certificates.serverKey, "--tls-key-file", certificates.serverKey],
                in: folder, mentioning: ["--tls-cert-file", "holds no PEM certificate"])
            try await expectStartupFailure(
                ["--tls-cert-file", certificates.serverCertificate, "--tls-key-file", certificates.caCertificate],
                in: folder, mentioning: ["--tls-key-file", "no unencrypted PEM private key"])
            try await expectStartupFailure(
                ["--tls-cert-file", certificates.serverCertificate, "--tls-key-file", certificates.otherCAKey],
                in: folder, mentioning: ["--tls-cert-file", "--tls-key-file", "belongs to the first certificate"])
            try await expectStartupFailure(
                ["--database-url", "postgres://shop@127.0.0.1:1/shop?sslmode=sometimes"],
                in: folder, mentioning: ["--database-url", "sslmode 'sometimes' is not known", "verify-full"])
        }
    }

    /// Connects to `port`, sends nothing and waits up to `seconds` for the server to close.
    func silentConnectionIsClosed(port: Int, within seconds: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return false }
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var byte: UInt8 = 0
        // 0: the server closed; -1 with EAGAIN: still open when the time ran out.
        let received = recv(descriptor, &byte, 1, 0)
        return received == 0 || (received < 0 && errno == ECONNRESET)
    }
}

enum TLSTestError: Error {
    case notListening(String)
}
