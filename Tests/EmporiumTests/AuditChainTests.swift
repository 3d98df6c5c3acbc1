@testable import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import Testing

/// The audit log's hash chain: intact after concurrent writers, and a changed or removed entry
/// is named.
@Suite struct AuditChainTests {
    func verdict(_ app: TestApp) async throws -> AuditChain.Verdict {
        try await AuditChain.verify(on: app.database, pageSize: 7)
    }

    @Test func concurrentWritersKeepOneChainAndTamperingIsNamed() async throws {
        try await withApp { app in
            let audit = AuditLog(clock: app.clock, ids: TimeOrderedIDGenerator())
            // Writers on many connections at once: the head's lock keeps one unbroken chain.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<40 {
                    group.addTask {
                        try await audit.record(.init(actor: nil, action: "test.concurrent", target: "\(index)"), on: app.database)
                    }
                }
                try await group.waitForAll()
            }
            // Entries written by the application itself join the same chain.
            _ = try await app.register("ada@example.com")
            guard case .intact(let entries, _, let unchained) = try await verdict(app) else {
                Issue.record("expected an intact chain, got \(try await verdict(app))")
                return
            }
            #expect(entries >= 41 && unchained == 0)

            // A changed target is named by its place in the chain.
            let victim = try #require(try await app.database.queryFirst(
                "SELECT id, chain_sequence FROM audit_log WHERE chain_sequence = 12"))
            let id: String = try victim.decode("id")
            try await app.database.execute("UPDATE audit_log SET target = 'nothing to see' WHERE id = \(id)")
            #expect(try await verdict(app) == .changed(sequence: 12, id: id))
            try await app.database.execute("DELETE FROM audit_log WHERE chain_sequence >= 12")
            // Removing it and everything after leaves a head that points past the end.
            #expect(try await verdict(app) == .removed(sequence: 12))
        }
    }

    @Test func aRemovedEntryInTheMiddleIsNamed() async throws {
        try await withApp { app in
            let audit = AuditLog(clock: app.clock, ids: TimeOrderedIDGenerator())
            for index in 0..<10 {
                try await audit.record(.init(actor: nil, action: "test.sequential", target: "\(index)"), on: app.database)
            }
            try await app.database.execute("DELETE FROM audit_log WHERE chain_sequence = 4")
            #expect(try await verdict(app) == .removed(sequence: 4))
        }
    }

    @Test func theCommandLineSaysWhetherTheLogIsIntact() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-audit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = "sqlite://\(folder.path)/shop.sqlite"
        func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            let process = ChildProcess()
            process.executableURL = ServerProcessTests.binary
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("EMPORIUM_") }
                .merging(["EMPORIUM_ADMIN_PASSWORD": "a long admin password"]) { $1 }
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, text)
        }
        #expect(try await run(["migrate", "--database-url", url]).status == 0)
        let intact = try await run(["audit", "verify", "--database-url", url])
        #expect(intact.status == 0 && intact.output.contains("intact"), "\(intact.output)")
    }
}
