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
        let drain = ShutdownDrain(logger: makeLogger(configuration, sink: StandardErrorSink()))
        do {
            let application = try await buildApplication(configuration, drain: drain)
            try await runUntilSignalled([application], configuration: configuration, drain: drain)
        } catch {
            throw fail(startupFailureMessage(error, configuration: configuration))
        }
    }
}

/// Runs `services` until SIGTERM or SIGINT. With a `drain`, the first signal starts it and
/// the graceful shutdown waits `--shutdown-drain` (a second signal ends the wait); then
/// requests and jobs in flight get `--shutdown-grace` to finish before they are cancelled (an
/// unfinished job runs again when its lease ends).
func runUntilSignalled(
    _ services: [any Service], configuration: AppConfiguration, drain: ShutdownDrain? = nil
) async throws {
    let logger = makeLogger(configuration, sink: StandardErrorSink())
    let drainPeriod = drain == nil ? .zero : configuration.shutdownDrainPeriod
    var groupConfiguration = ServiceGroupConfiguration(
        services: services.map { .init(service: $0) },
        // Without a drain the service group reacts to the signals itself, as it always did.
        gracefulShutdownSignals: drainPeriod == .zero ? [.sigterm, .sigint] : [],
        logger: logger)
    groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownGracePeriod
    let group = ServiceGroup(configuration: groupConfiguration)
    guard let drain, drainPeriod > .zero else {
        try await group.run()
        return
    }
    // Trapped before the group runs, so that no early signal finds the default action.
    let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        tasks.addTask {
            await drainOnSignals(signals, drain: drain, period: drainPeriod, group: group)
        }
        // The service group ends first (by the signals, or by a service failing); the
        // signal watcher then has nothing left to do.
        try await tasks.next()
        tasks.cancelAll()
    }
}

/// The first signal starts the drain and, after `period`, the graceful shutdown; a further
/// signal starts the shutdown at once.
private func drainOnSignals(
    _ signals: UnixSignalsSequence, drain: ShutdownDrain, period: Duration, group: ServiceGroup
) async {
    await withTaskGroup(of: Void.self) { timers in
        for await signal in signals {
            if drain.isDraining {
                drain.cutShort(because: "\(signal)")
                await group.triggerGracefulShutdown()
                continue
            }
            drain.begin(because: "\(signal)", for: period)
            timers.addTask {
                // Cancelled when the group ends first (a second signal, a failing service).
                guard (try? await Task.sleep(for: period)) != nil else { return }
                await group.triggerGracefulShutdown()
            }
        }
        timers.cancelAll()
    }
}

/// The message for an error that stops a command: our own errors describe themselves as
/// a sentence that says what to do.
func describe(_ error: any Error) -> String {
    String(describing: error)
}
