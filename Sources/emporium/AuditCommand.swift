import ArgumentParser
import Emporium
import Foundation

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Work with the audit log.",
        subcommands: [Verify.self]
    )

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the audit log's hash chain; name the first entry that was changed or removed.",
            discussion: """
                Exits 0 and prints the chain's length and head hash when every entry is intact, 1 when \
                the chain is broken. Keep the printed head somewhere else: a later run whose chain no \
                longer contains it shows that the table was rewritten as a whole.
                """
        )

        @OptionGroup var options: DatabaseOptions

        func run() async throws {
            let configuration = try options.configuration()
            let logger = makeLogger(configuration, sink: StandardErrorSink())
            let verdict: AuditVerdict
            do {
                verdict = try await withDatabase(configuration, logger: logger) { database in
                    try await verifyAuditLog(database)
                }
            } catch {
                throw fail(describe(error))
            }
            print(verdict.description)
            if !verdict.isIntact { throw ExitCode.failure }
        }
    }
}
