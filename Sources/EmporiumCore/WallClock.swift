public import Foundation
import Synchronization

/// The source of "now" for services (named apart from the standard library's `Clock`,
/// which measures durations rather than telling the date). Services receive one as a value and never call
/// `Date()` themselves, so tests can pin or move time.
public protocol WallClock: Sendable {
    func now() -> Date
}

/// Wall-clock time from the operating system.
public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A clock that stands still until a test moves it.
public final class ManualClock: WallClock {
    private let current: Mutex<Date>

    public init(_ start: Date = Date(timeIntervalSince1970: 1_767_225_600)) {
        current = Mutex(start)
    }

    public func now() -> Date { current.withLock { $0 } }

    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    public func set(_ date: Date) {
        current.withLock { $0 = date }
    }
}
