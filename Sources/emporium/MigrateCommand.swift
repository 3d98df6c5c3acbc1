import ArgumentParser
import Emporium
import Foundation

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Bring the database schema up to date, then exit."
    )

    @OptionGroup var options: DatabaseOptions

    @Flag(help: "Only report how many migrations are pending; exit 1 if any are.")
    var check = false

    func run() async throws {
        let configuration = try options.configuration()
        let logger = makeLogger(configuration, sink: StandardErrorSink())
        do {
            let pending = try await withDatabase(configuration, logger: logger) { database in
                if check {
                    return try await Emporium.pendingMigrations(database, logger: logger)
                }
                let applied = try await Emporium.migrate(database, logger: logger)
                print(applied.isEmpty ? "Schema is up to date." : "Applied migrations \(applied.map(String.init).joined(separator: ", ")).")
                return 0
            }
            if check {
                print(pending == 0 ? "Schema is up to date." : "\(pending) migration(s) pending.")
                if pending > 0 { throw ExitCode.failure }
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw fail(describe(error))
        }
    }
}
