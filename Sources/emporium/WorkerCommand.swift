import ArgumentParser
import Emporium
import Foundation

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run background jobs only (e-mail, webhooks, payment follow-ups, housekeeping) until SIGTERM or SIGINT.",
        discussion: "Uses the same settings as serve; --workers sets how many jobs run at once (at least one)."
    )

    @OptionGroup var options: ServerOptions

    func run() async throws {
        let configuration = try options.configuration()
        do {
            try await runUntilSignalled(try await buildWorker(configuration), configuration: configuration)
        } catch {
            throw fail(describe(error))
        }
    }
}
