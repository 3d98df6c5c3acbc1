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
            let app = try await buildApplication(configuration)
            var groupConfiguration = ServiceGroupConfiguration(
                services: [.init(service: app)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: makeLogger(configuration, sink: StandardErrorSink()))
            // In-flight requests get this long to finish; then they are cancelled.
            groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownGracePeriod
            try await ServiceGroup(configuration: groupConfiguration).run()
        } catch {
            throw fail(describe(error))
        }
    }
}

/// The message for an error that stops a command: our own errors describe themselves as
/// a sentence that says what to do.
func describe(_ error: any Error) -> String {
    String(describing: error)
}
