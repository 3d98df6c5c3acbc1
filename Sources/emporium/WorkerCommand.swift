import ArgumentParser
import Emporium
import Foundation

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run background jobs only (e-mail, webhooks, payment follow-ups, housekeeping) until SIGTERM or SIGINT.",
        discussion: "Takes the settings of serve except the HTTP ones; --workers sets how many jobs run at once (at least one)."
    )

    @OptionGroup(title: "Database and logging") var options: DatabaseOptions
    @OptionGroup(title: "Shop and background work") var shop: ShopOptions

    func run() async throws {
        let configuration = try options.configuration(shop)
        do {
            try await runUntilSignalled(try await buildWorker(configuration), configuration: configuration)
        } catch {
            throw fail(describe(error))
        }
    }
}
