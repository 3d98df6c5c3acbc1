import Foundation
import Synchronization

/// Stops calling a third party that keeps failing. Closed, every call goes through; after
/// `threshold` failures in a row it opens and no call goes through for `coolDown`; then it is
/// half-open and lets one trial call through: its success closes the breaker, its failure
/// opens it for another cool-down. Kept per process: each node learns on its own.
final class CircuitBreaker: Sendable {
    enum State: String, Sendable {
        case closed, open, halfOpen = "half_open"
    }

    private struct Status {
        var failures = 0
        var openedAt: Date?
        var trialRunning = false
    }

    let threshold: Int
    let coolDown: TimeInterval
    private let status = Mutex(Status())

    init(threshold: Int, coolDown: TimeInterval) {
        self.threshold = max(1, threshold)
        self.coolDown = coolDown
    }

    func state(at now: Date) -> State {
        status.withLock { status in
            guard let openedAt = status.openedAt else { return .closed }
            return now.timeIntervalSince(openedAt) < coolDown ? .open : .halfOpen
        }
    }

    /// Whether a call may go through now; when half-open, only the first caller's may.
    func allows(at now: Date) -> Bool {
        status.withLock { status in
            guard let openedAt = status.openedAt else { return true }
            guard now.timeIntervalSince(openedAt) >= coolDown, !status.trialRunning else { return false }
            status.trialRunning = true
            return true
        }
    }

    func succeeded() {
        status.withLock { $0 = Status() }
    }

    func failed(at now: Date) {
        status.withLock { status in
            status.failures += 1
            if status.trialRunning || status.failures >= threshold { status.openedAt = now }
            status.trialRunning = false
        }
    }
}
