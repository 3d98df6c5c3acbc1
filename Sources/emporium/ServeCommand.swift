import ArgumentParser
import Emporium
import Foundation
import ServiceLifecycle
import UnixSignals

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Migrate the database, then serve the API until SIGTERM or SIGINT."
    )

    @OptionGroup var options: ServerOptions

    func run() async throws {
        let configuration = try options.configuration()
        do {
            try await runUntilSignalled([try await buildApplication(configuration)], configuration: configuration)
        } catch {
            throw fail(startupFailureMessage(error, configuration: configuration))
        }
    }
}

/// Runs `services` until SIGTERM or SIGINT. Requests and jobs in flight then get
/// `--shutdown-grace` to finish before they are cancelled (an unfinished job runs again when
/// its lease ends).
func runUntilSignalled(_ services: [any Service], configuration: AppConfiguration) async throws {
    var groupConfiguration = ServiceGroupConfiguration(
        services: services.map { .init(service: $0) },
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: makeLogger(configuration, sink: StandardErrorSink()))
    groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownGracePeriod
    try await ServiceGroup(configuration: groupConfiguration).run()
}

/// The message for an error that stops a command: our own errors describe themselves as
/// a sentence that says what to do.
func describe(_ error: any Error) -> String {
    String(describing: error)
}
