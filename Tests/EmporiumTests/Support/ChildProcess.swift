import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, for tests that run the binary or a helper server.
///
/// Foundation's `Process.run()` on Linux (swift-corelibs-foundation up to at least 6.3.1) copies
/// whole 256-byte `d_name` fields while it lists `/proc/self/fd` to close inherited descriptors;
/// when a short `dirent` sits at the end of glibc's buffer the copy reads past a mapped page and the
/// test process crashes inside `memcpy` (fixed upstream in swift-corelibs-foundation#5472). A test
/// process with many open sockets and database files hits it now and then, so tests start children
/// here instead: the child closes every descriptor above 2 with `closefrom`, which reads nothing.
///
/// The surface mirrors the part of `Process` the tests used, so call sites read the same.
final class ChildProcess: Sendable {
    private struct State {
        var executableURL: URL?
        var arguments: [String] = []
        var environment: [String: String]?
        var standardOutput: (any Sendable)?
        var standardError: (any Sendable)?
        var pid: pid_t = 0
        var status: Int32?
    }

    private let state = Mutex(State())

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    var executableURL: URL? {
        get { state.withLock { $0.executableURL } }
        set { state.withLock { $0.executableURL = newValue } }
    }
    var arguments: [String] {
        get { state.withLock { $0.arguments } }
        set { state.withLock { $0.arguments = newValue } }
    }
    var environment: [String: String]? {
        get { state.withLock { $0.environment } }
        set { state.withLock { $0.environment = newValue } }
    }
    /// A `FileHandle` or a `Pipe`; nil inherits the test process's own.
    var standardOutput: (any Sendable)? {
        get { state.withLock { $0.standardOutput } }
        set { state.withLock { $0.standardOutput = newValue } }
    }
    var standardError: (any Sendable)? {
        get { state.withLock { $0.standardError } }
        set { state.withLock { $0.standardError = newValue } }
    }
    var processIdentifier: Int32 { state.withLock { $0.pid } }

    func run() throws {
        let (path, arguments, environment, output, error) = state.withLock {
            ($0.executableURL?.path, $0.arguments, $0.environment, $0.standardOutput, $0.standardError)
        }
        guard let path else { throw Failure(description: "no executable to run") }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (stream, target) in [(STDOUT_FILENO, output), (STDERR_FILENO, error)] {
            if let descriptor = Self.writingDescriptor(of: target) {
                posix_spawn_file_actions_adddup2(&actions, descriptor, stream)
            }
        }
        guard let closeFrom = Self.closeFrom else {
            throw Failure(description: "this C library lacks posix_spawn_file_actions_addclosefrom_np (glibc 2.34 or later has it)")
        }
        _ = closeFrom(&actions, 3)

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, nil, argv, envp)
        guard result == 0 else {
            throw Failure(description: "cannot start \(path): \(String(cString: strerror(result)))")
        }
        state.withLock { $0.pid = pid }
        // The child holds its own copy of a pipe's writing end; ours must close or reads never end.
        for target in [output, error] {
            if let pipe = target as? Pipe { try? pipe.fileHandleForWriting.close() }
        }
    }

    /// glibc declares it only under `_GNU_SOURCE`, which Swift's Glibc module does not define.
    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let closeFrom: CloseFrom? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: CloseFrom.self) }

    private static func writingDescriptor(of target: Any?) -> Int32? {
        switch target {
        case let handle as FileHandle: handle.fileDescriptor
        case let pipe as Pipe: pipe.fileHandleForWriting.fileDescriptor
        default: nil
        }
    }

    /// Reaps the child if it has ended, without waiting.
    var isRunning: Bool {
        state.withLock { state in
            guard state.pid > 0, state.status == nil else { return false }
            var status: Int32 = 0
            let reaped = waitpid(state.pid, &status, WNOHANG)
            if reaped == state.pid { state.status = status }
            return reaped == 0
        }
    }

    /// The exit code, or the signal that ended the child (as `Process` reports it).
    var terminationStatus: Int32 {
        let status = state.withLock { $0.status } ?? 0
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : signal
    }

    func terminate() { send(SIGTERM) }
    func interrupt() { send(SIGINT) }

    func send(_ signal: Int32) {
        let pid = state.withLock { $0.status == nil ? $0.pid : 0 }
        if pid > 0 { kill(pid, signal) }
    }

    /// Blocks the calling thread until the child ends; tests call it only once the child was asked to stop.
    func waitUntilExit() {
        state.withLock { state in
            guard state.pid > 0, state.status == nil else { return }
            var status: Int32 = 0
            while waitpid(state.pid, &status, 0) == -1, errno == EINTR {}
            state.status = status
        }
    }
}
