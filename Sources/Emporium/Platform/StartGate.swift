import ServiceLifecycle
import Synchronization

/// Holds background services back until the database is ready (migrated, and what a previous
/// process of this node held freed), so they neither query tables that do not exist yet nor
/// take back jobs they have just claimed themselves.
final class StartGate: Sendable {
    private let opened = Atomic<Bool>(false)

    /// Lets every waiter through, now and later.
    func open() {
        opened.store(true, ordering: .releasing)
    }

    /// Returns once the gate is open, or when the task is cancelled or shutting down.
    func wait() async {
        while !opened.load(ordering: .acquiring) && !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}
