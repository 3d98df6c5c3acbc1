import EmporiumCore
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

    var isOpen: Bool { opened.load(ordering: .acquiring) }

    /// Returns once the gate is open, or when the task is cancelled or shutting down; says
    /// whether it opened, so that work which needs a ready database can skip itself when the
    /// process stops before it ever was.
    @discardableResult
    func wait() async -> Bool {
        while !isOpen && !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return isOpen
    }
}
