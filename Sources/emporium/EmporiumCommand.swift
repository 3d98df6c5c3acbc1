import ArgumentParser
import Emporium
import Foundation

@main
struct EmporiumCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emporium",
        abstract: "Emporium: a headless commerce backend.",
        discussion: """
            Every option can also be set by its EMPORIUM_* environment variable (--database-url \
            is EMPORIUM_DATABASE_URL); a flag wins over its variable.
            """,
        subcommands: [
            ServeCommand.self, MigrateCommand.self, CreateAdminCommand.self, RotateKeysCommand.self, SeedCommand.self,
            ImportCommand.self, ExportCommand.self, WorkerCommand.self, AuditCommand.self,
        ],
        defaultSubcommand: ServeCommand.self
    )
}

/// Prints one line to standard error and exits with status 1: how every command reports
/// a failure it cannot recover from.
func fail(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("emporium: error: \(message)\n".utf8))
    return .failure
}
