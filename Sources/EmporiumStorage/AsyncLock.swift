import Synchronization

/// A lock for async code: `withLock` suspends, rather than blocks a thread, while another
/// task holds it, and hands it over in arrival order.
final class AsyncLock: Sendable {
    private struct State {
        var isLocked = false
        var waiters = FIFOQueue<CheckedContinuation<Void, Never>>()
    }

    private let state = Mutex(State())

    /// How many tasks are waiting for the lock now.
    var waitingCount: Int { state.withLock { $0.waiters.count } }
    var isLocked: Bool { state.withLock { $0.isLocked } }

    func withLock<Result>(_ body: () async throws -> Result) async rethrows -> Result {
        await lock()
        defer { unlock() }
        return try await body()
    }

    private func lock() async {
        let acquired = state.withLock { state -> Bool in
            guard state.isLocked else {
                state.isLocked = true
                return true
            }
            return false
        }
        if acquired { return }
        await withCheckedContinuation { continuation in
            let acquiredMeanwhile = state.withLock { state -> Bool in
                if !state.isLocked {
                    state.isLocked = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if acquiredMeanwhile { continuation.resume() }
        }
    }

    private func unlock() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            // Ownership passes straight to the next waiter; the lock stays locked.
            guard let next = state.waiters.popFirst() else {
                state.isLocked = false
                return nil
            }
            return next
        }
        next?.resume()
    }
}
