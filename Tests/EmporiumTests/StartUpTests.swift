import Emporium
import EmporiumStorage
import Foundation
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What an operator meets when starting the binary: a quiet log on a clean start, one
/// server per SQLite file, and failures that say what to do.
@Suite struct StartUpTests {
    /// A new folder for one test, removed afterwards.
    func withFolder<Result>(_ body: (URL) async throws -> Result) async throws -> Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-start-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        return try await body(folder)
    }

    func expectOneLineFailure(
        _ outcome: (status: Int32, standardError: String), mentioning texts: [String],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(outcome.status == 1, sourceLocation: sourceLocation)
        let lines = outcome.standardError.split(separator: "\n")
        #expect(lines.count == 1, "\(outcome.standardError)", sourceLocation: sourceLocation)
        #expect(lines.first?.hasPrefix("emporium: error: ") == true, "\(outcome.standardError)", sourceLocation: sourceLocation)
        for text in texts {
            #expect(outcome.standardError.contains(text), "expected '\(text)' in: \(outcome.standardError)", sourceLocation: sourceLocation)
        }
    }

    // MARK: A clean start is quiet

    @Test func aNewSQLiteFileServesWithoutAWarning() async throws {
        try await withFolder { folder in
            let server = try BinaryRun.start(
                ["serve", "--port", "0", "--test-payments", "false", "--database-url", "sqlite://\(folder.path)/shop.sqlite"],
                in: folder)
            let port = try await server.listeningPort()
            #expect(port != nil, "\(server.log)")
            // Long enough for the background services to make their first round.
            try await Task.sleep(for: .seconds(2))
            #expect(await server.stop() == 0)
            #expect(server.alarmingLines.isEmpty, "\(server.log)")
            #expect(server.log.contains("applied migration"))
        }
    }

    @Test func aNewSQLiteFileRunsAWorkerWithoutAWarning() async throws {
        try await withFolder { folder in
            let worker = try BinaryRun.start(
                ["worker", "--test-payments", "false", "--database-url", "sqlite://\(folder.path)/shop.sqlite"], in: folder)
            #expect(try await worker.waitForLine(containing: "Emporium worker running"), "\(worker.log)")
            try await Task.sleep(for: .seconds(2))
            #expect(await worker.stop() == 0)
            #expect(worker.alarmingLines.isEmpty, "\(worker.log)")
        }
    }

    /// Migrations are slow by nature and say how long each took, so they stay out of the
    /// slow-query log: with a threshold every statement passes, the log names the start-up's
    /// other statements but no migration's.
    @Test func migrationsStayOutOfTheSlowQueryLog() async throws {
        try await withFolder { folder in
            let worker = try BinaryRun.start(
                ["worker", "--test-payments", "false", "--database-url", "sqlite://\(folder.path)/shop.sqlite"],
                environment: ["EMPORIUM_SLOW_QUERY_THRESHOLD": "0.000001"], in: folder)
            #expect(try await worker.waitForLine(containing: "Emporium worker running"), "\(worker.log)")
            #expect(try await worker.waitForLine(containing: "slow query"), "\(worker.log)")
            #expect(await worker.stop() == 0)
            let slow = worker.lines.filter { $0.contains("slow query") }
            // Migrations create tables; the planner statistics after them are ANALYZE and PRAGMA.
            let startUpWork = ["statement=CREATE", "schema_migrations", "statement=ANALYZE", "statement=PRAGMA"]
            #expect(!slow.contains { line in startUpWork.contains { line.contains($0) } }, "\(slow)")
            #expect(worker.lines.contains { $0.contains("applied migration") && $0.contains("duration_ms=") }, "\(worker.log)")
        }
    }

    /// On PostgreSQL the pool must run before the first statement: postgres-nio warns about a
    /// lease before `run()` (a race, so several commands are run).
    @Test(.enabled(if: TestDatabase.postgresURL != nil))
    func commandsAndAServerOnPostgreSQLLogNoWarning() async throws {
        try await withFolder { folder in
            try await TestDatabase.withFresh { url in
                let database = ["--database-url", url.connectionString]
                let keys = [
                    "--jwt-key-file", TestDatabase.signingKeyFile, "--encryption-key-file", TestDatabase.encryptionKeyFile,
                ]
                var outcomes: [(status: Int32, standardError: String)] = []
                for _ in 0..<3 { outcomes.append(try await BinaryRun.run(["migrate"] + database, in: folder)) }
                outcomes.append(try await BinaryRun.run(["migrate", "--check"] + database, in: folder))
                outcomes.append(try await BinaryRun.run(["export", folder.appendingPathComponent("p.csv").path] + database, in: folder))
                outcomes.append(try await BinaryRun.run(
                    ["rotate-keys", "--encryption-key-file", TestDatabase.encryptionKeyFile] + database, in: folder))
                for outcome in outcomes {
                    #expect(outcome.status == 0, "\(outcome.standardError)")
                    #expect(!outcome.standardError.contains("WARNING"), "\(outcome.standardError)")
                    #expect(!outcome.standardError.contains("run() hasn't been called"), "\(outcome.standardError)")
                }

                let server = try BinaryRun.start(["serve", "--port", "0"] + database + keys, in: folder)
                #expect(try await server.listeningPort() != nil, "\(server.log)")
                try await Task.sleep(for: .seconds(2))
                #expect(await server.stop() == 0)
                #expect(server.alarmingLines.isEmpty, "\(server.log)")
            }
        }
    }

    // MARK: Each command lists the settings it uses

    @Test func eachCommandsHelpListsOnlyTheSettingsItUses() async throws {
        try await withFolder { folder in
            let serve = try await BinaryRun.output(["serve", "--help"], in: folder)
            for setting in ConfigurationSetting.all {
                #expect(serve.contains(setting.flag + " "), "serve --help lacks \(setting.flag)")
            }
            let database = ["--database-url", "--log-level", "--log-format", "--sqlite-readers", "--postgres-pool-size"]
            let http = ["--host", "--port", "--rate-limit", "--cors-origins", "--jwt-key-file"]
            let expectations: [(command: String, has: [String], lacks: [String])] = [
                ("create-admin", database + ["--email", "--bcrypt-cost"], http + ["--smtp-url", "--workers", "--encryption-key-file"]),
                ("rotate-keys", database + ["--encryption-key-file"], http + ["--bcrypt-cost", "--workers"]),
                ("migrate", database + ["--check"], http + ["--bcrypt-cost", "--workers", "--encryption-key-file"]),
                ("import", database + ["--location"], http + ["--bcrypt-cost", "--workers"]),
                ("export", database, http + ["--bcrypt-cost", "--workers"]),
                ("worker", database + ["--workers", "--smtp-url", "--encryption-key-file"], http),
                ("seed", database + ["--products"], http + ["--bcrypt-cost", "--workers"]),
                ("audit verify", database, http + ["--bcrypt-cost", "--workers"]),
            ]
            for expectation in expectations {
                let help = try await BinaryRun.output(expectation.command.split(separator: " ").map(String.init) + ["--help"], in: folder)
                for flag in expectation.has {
                    #expect(help.contains(flag + " "), "\(expectation.command) --help lacks \(flag)")
                }
                for flag in expectation.lacks {
                    #expect(!help.contains(flag + " "), "\(expectation.command) --help lists \(flag)")
                }
            }
        }
    }

    // MARK: One server per SQLite file

    @Test func aSecondServerOnOneSQLiteFileIsRefusedAndACrashLeavesNoStaleLock() async throws {
        try await withFolder { folder in
            let url = "sqlite://\(folder.path)/shop.sqlite"
            let first = try BinaryRun.start(["serve", "--port", "0", "--database-url", url], in: folder)
            let port = try #require(try await first.listeningPort(), "\(first.log)")

            let second = try await BinaryRun.run(
                ["serve", "--port", "0", "--log-level", "warning", "--database-url", url], in: folder)
            expectOneLineFailure(
                second,
                mentioning: [
                    "\(folder.path)/shop.sqlite.lock", "process \(first.process.processIdentifier)",
                    "listening on http://127.0.0.1:\(port)", "--database-url",
                ])

            // One-off commands still run beside the server.
            let migrate = try await BinaryRun.run(["migrate", "--database-url", url], in: folder)
            #expect(migrate.status == 0, "\(migrate.standardError)")

            // The operating system drops the lock with the process, however it ends.
            first.process.send(SIGKILL)
            _ = await first.waitForExit(within: .seconds(10))
            #expect(FileManager.default.fileExists(atPath: "\(folder.path)/shop.sqlite.lock"))
            let third = try BinaryRun.start(["serve", "--port", "0", "--database-url", url], in: folder)
            #expect(try await third.listeningPort() != nil, "\(third.log)")
            #expect(await third.stop() == 0)
        }
    }

    @Test func theLockFileIsHeldOnceAndGivenBack() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-lock-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("shop.sqlite").path
        let lock = try SQLiteLockFile.acquire(databasePath: path)
        #expect(lock.path == path + ".lock")
        #expect(throws: SQLiteLockError.self) { try SQLiteLockFile.acquire(databasePath: path) }
        lock.release()
        // Other tests start child processes meanwhile: a child spawned while the lock was held
        // shares its descriptor until it closes its copy at exec, so the lock may come back a
        // moment later. It must come back within seconds, and then be held again.
        var again: SQLiteLockFile?
        for _ in 0..<250 where again == nil {
            again = try? SQLiteLockFile.acquire(databasePath: path)
            if again == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        let held = try #require(again, "the lock never came back")
        #expect(throws: SQLiteLockError.self) { try SQLiteLockFile.acquire(databasePath: path) }
        held.release()
    }

    // MARK: Failures that say what to do

    @Test func aBusyPortNamesTheAddressAndTheFlag() async throws {
        try await withFolder { folder in
            let occupant = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(host: "127.0.0.1", port: 0).get()
            defer { occupant.close(promise: nil) }
            let port = try #require(occupant.localAddress?.port)
            let outcome = try await BinaryRun.run(
                ["serve", "--port", "\(port)", "--log-level", "error", "--database-url", "sqlite://\(folder.path)/shop.sqlite"],
                in: folder)
            expectOneLineFailure(outcome, mentioning: ["127.0.0.1:\(port)", "in use", "--port (EMPORIUM_PORT)"])
            #expect(!outcome.standardError.contains("errno"))
        }
    }

    @Test func anUnreachablePostgreSQLSaysWhereAndWhatToCheck() async throws {
        try await withFolder { folder in
            let outcome = try await BinaryRun.run(
                [
                    "serve", "--database-url", "postgres://emporium:hunter2@127.0.0.1:1/shop?sslmode=disable",
                    "--jwt-key-file", TestDatabase.signingKeyFile, "--encryption-key-file", TestDatabase.encryptionKeyFile,
                ], in: folder)
            expectOneLineFailure(
                outcome,
                mentioning: [
                    "PostgreSQL at 127.0.0.1:1", "database shop", "user emporium", "connection refused",
                    "check that PostgreSQL is running", "--database-url",
                ])
            #expect(!outcome.standardError.contains("hunter2"))
            #expect(!outcome.standardError.contains("errno"))
            #expect(!outcome.standardError.contains("descriptor"))
        }
    }

    @Test func aMissingKeyFileNamesTheFlagTheVariableAndTheReason() async throws {
        try await withFolder { folder in
            let missing = folder.appendingPathComponent("missing.pem").path
            let database = ["--database-url", "sqlite://\(folder.path)/shop.sqlite"]
            expectOneLineFailure(
                try await BinaryRun.run(["serve", "--jwt-key-file", missing] + database, in: folder),
                mentioning: [
                    missing, "--jwt-key-file (EMPORIUM_JWT_KEY_FILE)", "no such file",
                    "openssl genpkey -algorithm ed25519 -out \(missing)",
                ])
            expectOneLineFailure(
                try await BinaryRun.run(
                    ["serve"] + database, environment: ["EMPORIUM_ENCRYPTION_KEY_FILE": folder.path], in: folder),
                mentioning: ["--encryption-key-file (EMPORIUM_ENCRYPTION_KEY_FILE)", "it is a folder"])
            expectOneLineFailure(
                try await BinaryRun.run(["rotate-keys", "--encryption-key-file", missing] + database, in: folder),
                mentioning: ["--encryption-key-file (EMPORIUM_ENCRYPTION_KEY_FILE)", "no such file", "openssl rand -base64 32"])
            // PostgreSQL needs the files named; the hint writes the key to a file.
            expectOneLineFailure(
                try await BinaryRun.run(["serve", "--database-url", "postgres://app@127.0.0.1:1/shop"], in: folder),
                mentioning: ["--jwt-key-file (EMPORIUM_JWT_KEY_FILE) is required", "openssl genpkey -algorithm ed25519 -out FILE"])
        }
    }

    /// Root reads any file, so the case is only seen by other users.
    @Test(.enabled(if: getuid() != 0)) func anUnreadableKeyFileSaysPermissionDenied() async throws {
        try await withFolder { folder in
            let path = folder.appendingPathComponent("key.pem").path
            #expect(FileManager.default.createFile(atPath: path, contents: Data("x".utf8), attributes: [.posixPermissions: 0]))
            expectOneLineFailure(
                try await BinaryRun.run(
                    ["serve", "--jwt-key-file", path, "--database-url", "sqlite://\(folder.path)/shop.sqlite"], in: folder),
                mentioning: ["--jwt-key-file (EMPORIUM_JWT_KEY_FILE)", "permission denied"])
        }
    }
}
