import AsyncHTTPClient
import Emporium
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Testing

/// The `emporium` binary as an operator runs it: start-up errors, a real socket, SIGTERM.
@Suite struct ServerProcessTests {
    struct Outcome {
        let status: Int32
        let standardError: String
    }

    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("emporium")
    }

    /// Runs the binary to completion (at most 60 s) and returns its exit status and stderr.
    func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> Outcome {
        let process = ChildProcess()
        process.executableURL = Self.binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("EMPORIUM_") }
            .merging(environment) { _, new in new }
        let errorPipe = Pipe()
        process.standardError = errorPipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        let text = String(decoding: errorPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return Outcome(status: process.terminationStatus, standardError: text)
    }

    func expectOneLineFailure(_ outcome: Outcome, mentioning: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(outcome.status != 0, sourceLocation: sourceLocation)
        let lines = outcome.standardError.split(separator: "\n")
        #expect(lines.count == 1, "\(outcome.standardError)", sourceLocation: sourceLocation)
        #expect(lines.first?.hasPrefix("emporium: error:") == true, sourceLocation: sourceLocation)
        #expect(outcome.standardError.contains(mentioning), "\(outcome.standardError)", sourceLocation: sourceLocation)
    }

    @Test func theBinaryWasBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary.path), "expected \(Self.binary.path)")
    }

    @Test func aBadDatabaseURLStopsStartUpWithOneLine() async throws {
        expectOneLineFailure(try await run(["serve", "--database-url", "mysql://root@localhost/shop"]), mentioning: "mysql")
        expectOneLineFailure(
            try await run(["serve"], environment: ["EMPORIUM_DATABASE_URL": "postgres://nobody@/"]),
            mentioning: "EMPORIUM_DATABASE_URL")
    }

    @Test func badFlagsAndVariablesStopStartUpWithOneLine() async throws {
        expectOneLineFailure(try await run(["serve", "--port", "http"]), mentioning: "--port")
        expectOneLineFailure(try await run(["serve"], environment: ["EMPORIUM_LOG_LEVEL": "chatty"]), mentioning: "EMPORIUM_LOG_LEVEL")
    }

    @Test func aDatabaseFromANewerVersionIsRefused() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-newer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = "sqlite://\(folder.path)/shop.sqlite"
        #expect(try await run(["migrate", "--database-url", url]).status == 0)
        var configuration = AppConfiguration()
        configuration.databaseURL = try DatabaseURL(parsing: url)
        try await withDatabase(configuration, logger: Logger(label: "test")) { database in
            try await database.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', '2030-01-01T00:00:00.000Z')")
        }
        expectOneLineFailure(try await run(["serve", "--port", "0", "--database-url", url]), mentioning: "newer emporium")
        expectOneLineFailure(try await run(["migrate", "--database-url", url]), mentioning: "newer emporium")
    }

    @Test func fourMigrateProcessesAtOnceApplyEachMigrationOnce() async throws {
        try await TestDatabase.withFresh { url in
            let outcomes = try await withThrowingTaskGroup(of: Outcome.self) { group in
                for _ in 0..<4 {
                    group.addTask { try await run(["migrate", "--database-url", url.connectionString]) }
                }
                return try await group.reduce(into: [Outcome]()) { $0.append($1) }
            }
            for outcome in outcomes { #expect(outcome.status == 0, "\(outcome.standardError)") }
            var configuration = AppConfiguration()
            configuration.databaseURL = url
            try await withDatabase(configuration, logger: Logger(label: "test")) { database in
                let rows = try await database.query("SELECT version, COUNT(*) AS copies FROM schema_migrations GROUP BY version")
                #expect(!rows.isEmpty)
                #expect(try rows.allSatisfy { try $0.decode("copies", as: Int.self) == 1 })
                let pending = try await pendingMigrations(database, logger: Logger(label: "test"))
                #expect(pending == 0)
            }
        }
    }

    @Test func servesOnARealSocketAndExitsCleanlyOnSIGTERM() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let logFile = folder.appendingPathComponent("stderr.log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)

        let process = ChildProcess()
        process.executableURL = Self.binary
        process.arguments = ["--port", "0", "--log-format", "json", "--database-url", "sqlite://\(folder.path)/shop.sqlite"]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("EMPORIUM_") }
        process.standardError = try FileHandle(forWritingTo: logFile)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        var port: Int?
        for _ in 0..<500 where port == nil {
            try await Task.sleep(for: .milliseconds(20))
            let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
            if let line = log.split(separator: "\n").first(where: { $0.contains("listening on http://") }),
                let range = line.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression)
            {
                port = Int(line[range].split(separator: ":").last!)
            }
        }
        let boundPort = try #require(port, "the server never said where it listens")

        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(boundPort)/health/ready"), timeout: .seconds(10))
        #expect(response.status == .ok)
        #expect(response.headers.first(name: "X-Request-ID") != nil)
        #expect(response.headers.first(name: "Server") == nil)

        process.interrupt()  // SIGINT, as Ctrl-C sends
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 0)
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("shop.sqlite").path))

        let log = try String(contentsOf: logFile, encoding: .utf8)
        for line in log.split(separator: "\n") {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "not JSON: \(line)")
        }
    }

    @Test func gracefulShutdownFinishesRequestsInFlight() async throws {
        // The route says when it has started, so that shutdown begins while it is in flight.
        let (started, startedContinuation) = AsyncStream<Void>.makeStream()
        let slowRoute: @Sendable (RouteRegistrar) -> Void = { routes in
            routes.get("/test/slow") { _, _ -> String in
                startedContinuation.yield()
                try await Task.sleep(for: .milliseconds(800))
                return "done"
            }
        }
        try await withRunningServer(customRoutes: slowRoute) { port, group in
            async let slow = HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)/test/slow"), timeout: .seconds(30))
            var iterator = started.makeAsyncIterator()
            await iterator.next()
            await group.triggerGracefulShutdown()
            let response = try await slow
            #expect(response.status == .ok)
            #expect(String(buffer: try await response.body.collect(upTo: 1024)) == "done")
        }
    }

    @Test func idleConnectionsAreClosed() async throws {
        try await withRunningServer(configure: { $0.idleTimeout = .seconds(1) }) { port, group in
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get()
            // Say nothing; the server must hang up (after about a second; the bound is loose
            // because this machine is shared).
            try await withTimeout(.seconds(20)) { try await channel.closeFuture.get() }
            await group.triggerGracefulShutdown()
        }
    }

    /// Runs the application on a real socket in a service group until `body` triggers its
    /// graceful shutdown, and waits for the group to finish.
    func withRunningServer(
        configure: (inout AppConfiguration) -> Void = { _ in },
        customRoutes: (@Sendable (RouteRegistrar) -> Void)? = nil,
        _ body: @escaping @Sendable (Int, ServiceGroup) async throws -> Void
    ) async throws {
        try await TestDatabase.withFresh { url in
            var configuration = TestDatabase.configuration(for: url)
            configure(&configuration)
            let logs = CapturingLogSink()
            let app = try await buildApplication(
                configuration, dependencies: AppDependencies(logSink: logs, customRoutes: customRoutes))
            let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "test")))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                var port: Int?
                for _ in 0..<1000 where port == nil {
                    try await Task.sleep(for: .milliseconds(10))
                    if let line = logs.lines.first(where: { $0.contains("listening on http://") }),
                        let range = line.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression)
                    {
                        port = Int(line[range].split(separator: ":").last!)
                    }
                }
                guard let port else {
                    await group.triggerGracefulShutdown()
                    throw TestFailure("the server never said where it listens")
                }
                do {
                    try await body(port, group)
                } catch {
                    await group.triggerGracefulShutdown()
                    throw error
                }
                try await tasks.waitForAll()
            }
        }
    }
}
