import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM first drains: `/health/ready` says 503 so that a load balancer takes the node out,
/// while every other request is served as usual; only then does the node shut down.
@Suite struct ShutdownDrainTests {
    func withServer(drainSeconds: Int, _ body: (BinaryRun, Int) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-drain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try BinaryRun.start(
            [
                "serve", "--port", "0", "--database-url", "sqlite://\(folder.path)/shop.sqlite",
                "--mail-folder", folder.appendingPathComponent("mail").path,
                "--shutdown-drain", String(drainSeconds),
            ],
            in: folder)
        defer { if run.process.isRunning { run.process.send(SIGKILL) } }
        let port = try #require(try await run.listeningPort(), "the server never said where it listens: \(run.log)")
        try await body(run, port)
    }

    func get(_ port: Int, _ path: String) async throws -> (status: UInt, retryAfter: String?) {
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 20)
        return (response.status.code, response.headers.first(name: "Retry-After"))
    }

    /// Left alone, a draining node stops by itself when the drain ends, not before. Nothing is
    /// asked of it meanwhile (that is `aDrainingNodeServesAllButReadiness`), so the check
    /// holds however slowly a busy machine runs the test.
    @Test func sigtermDrainsThenExits() async throws {
        try await withServer(drainSeconds: 3) { run, port throws in
            #expect(try await get(port, "/health/ready").status == 200)
            let signalled = ContinuousClock.now
            run.process.terminate()
            let status = await run.waitForExit(within: .seconds(60))
            let took = ContinuousClock.now - signalled
            #expect(status == 0, "\(run.log)")
            #expect(run.log.contains("draining for 3 s"), "\(run.log)")
            #expect(took >= .seconds(3), "exited \(took) after SIGTERM, before the drain ended")
        }
    }

    /// While it drains, readiness says 503 and everything else is served as usual; a second
    /// signal then ends the drain at once. The drain is long enough that no busy machine
    /// outlasts it.
    @Test func aDrainingNodeServesAllButReadiness() async throws {
        try await withServer(drainSeconds: 600) { run, port throws in
            run.process.terminate()
            #expect(try await run.waitForLine(containing: "draining for 600 s"), "\(run.log)")
            let ready = try await get(port, "/health/ready")
            #expect(ready.status == 503)
            #expect(ready.retryAfter != nil)
            #expect(try await get(port, "/health/live").status == 200)
            #expect(try await get(port, "/v1/products").status == 200)
            #expect(try await get(port, "/v1/categories").status == 200)
            #expect(run.process.isRunning, "the node stopped before its drain ended")
            run.process.interrupt()
            #expect(await run.waitForExit(within: .seconds(120)) == 0, "\(run.log)")
        }
    }

    /// The drain is 600 s; the node must be gone in a fifth of that. The bound is far from
    /// both the drain and the few seconds a shutdown takes, so a busy machine cannot decide it.
    @Test func aSecondSignalSkipsTheDrain() async throws {
        try await withServer(drainSeconds: 600) { run, port throws in
            run.process.terminate()
            #expect(try await run.waitForLine(containing: "draining for 600 s"), "\(run.log)")
            #expect(try await get(port, "/health/ready").status == 503)
            run.process.interrupt()
            // Killed (and so not 0) when it is still running at the bound.
            let status = await run.waitForExit(within: .seconds(120))
            #expect(status == 0, "still draining 120 s after the second signal, or failed: \(run.log)")
            #expect(run.log.contains("again: shutting down"), "\(run.log)")
        }
    }

    @Test func noDrainShutsDownAtOnce() async throws {
        try await withServer(drainSeconds: 0) { run, _ throws in
            let signalled = ContinuousClock.now
            run.process.terminate()
            let status = await run.waitForExit(within: .seconds(30))
            #expect(status == 0, "\(run.log)")
            #expect(ContinuousClock.now - signalled < .seconds(15))
            #expect(!run.log.contains("draining"))
        }
    }
}
