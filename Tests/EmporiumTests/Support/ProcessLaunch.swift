import Foundation

private let launches = NSLock()

extension Process {
    /// Starts the process, one launch at a time across the test run: Foundation's
    /// `Process.run` crashed once (a read past the end of a buffer inside it) while other
    /// tests launched processes at the same moment.
    func launchSerially() throws {
        try launches.withLock { try run() }
    }
}
