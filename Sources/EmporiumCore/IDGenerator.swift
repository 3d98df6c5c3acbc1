public import Foundation
import Synchronization

/// Makes new ids. Services receive one as a value and never call `UUID()` themselves.
public protocol IDGenerator: Sendable {
    func makeUUID() -> UUID
}

extension IDGenerator {
    public func make<Entity>(_: Entity.Type = Entity.self) -> ID<Entity> {
        ID(makeUUID())
    }
}

/// Time-ordered version 7 UUIDs that strictly increase within one generator, even when
/// several are made in the same millisecond or the clock steps backwards.
public final class TimeOrderedIDGenerator: IDGenerator {
    private struct State {
        var milliseconds: UInt64 = 0
        var counter: UInt64 = 0
    }

    /// 42 counter bits: 12 in `rand_a`, 30 in `rand_b`.
    private static let counterLimit: UInt64 = 1 << 42

    private let clock: any WallClock
    private let state = Mutex(State())

    public init(clock: any WallClock = SystemClock()) {
        self.clock = clock
    }

    public func makeUUID() -> UUID {
        let now = UInt64(max(0, clock.now().timeIntervalSince1970 * 1000))
        let (milliseconds, counter) = state.withLock { state -> (UInt64, UInt64) in
            if now > state.milliseconds {
                // A fresh millisecond: start the counter at a random point in its lower half
                // so ids stay unguessable yet leave room to count up.
                state.milliseconds = now
                state.counter = UInt64.random(in: 0..<(Self.counterLimit / 2))
            } else {
                state.counter += 1
                if state.counter >= Self.counterLimit {
                    state.milliseconds += 1
                    state.counter = 0
                }
            }
            return (state.milliseconds, state.counter)
        }
        return UUIDv7.make(milliseconds: milliseconds, counter: counter, random: UInt64.random(in: 0...UInt64(UInt32.max)))
    }
}

/// Hands out the ids it was given, in order, then counts on; for tests that need known ids.
public final class SequentialIDGenerator: IDGenerator {
    private let next = Mutex<UInt64>(1)

    public init() {}

    public func makeUUID() -> UUID {
        let value = next.withLock { value -> UInt64 in
            defer { value += 1 }
            return value
        }
        return UUIDv7.make(milliseconds: 0, counter: value, random: 0)
    }
}
