import Foundation
import Synchronization

/// Where finished log lines go.
public protocol LogSink: Sendable {
    func write(_ line: String)
}

/// Standard error, one `write` per line so lines from different threads never interleave.
public struct StandardErrorSink: LogSink {
    public init() {}

    public func write(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// Keeps every line in memory; tests read what was logged.
public final class CapturingLogSink: LogSink {
    private let storage = Mutex<[String]>([])

    public init() {}

    public func write(_ line: String) {
        storage.withLock { $0.append(line) }
    }

    public var lines: [String] { storage.withLock { $0 } }
}
