import Foundation
import Synchronization

/// Progress of long command-line work on standard error: a bar redrawn in place on a
/// terminal, a plain line every tenth of the way otherwise (CI logs, pipes).
final class ProgressReporter: Sendable {
    private let fixedTotal: Int?
    private let label: String
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private let lastTenth = Mutex(-1)

    /// `total` when it is known up front; otherwise each update says it.
    init(total: Int? = nil, label: String) {
        fixedTotal = total
        self.label = label
    }

    func update(_ done: Int) {
        update(done, of: fixedTotal ?? done)
    }

    func update(_ done: Int, of total: Int) {
        let total = max(total, 1)
        let fraction = min(1, Double(done) / Double(total))
        if isTerminal {
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            write("\r\(label) [\(bar)] \(done)/\(total)")
            if done >= total { write("\n") }
        } else {
            let tenth = Int(fraction * 10)
            let shouldPrint = lastTenth.withLock { last in
                guard tenth > last else { return false }
                last = tenth
                return true
            }
            if shouldPrint { write("\(label): \(done)/\(total)\n") }
        }
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
