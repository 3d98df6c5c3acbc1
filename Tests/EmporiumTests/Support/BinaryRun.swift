import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The `emporium` binary started as an operator starts it, with its standard error in a file
/// that the test reads while the process runs.
struct BinaryRun {
    let process: ChildProcess
    let logFile: URL

    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("emporium")
    }

    /// Starts the binary with `arguments`, no inherited `EMPORIUM_*` variable but `environment`,
    /// writing its standard error to a new file in `folder`.
    static func start(_ arguments: [String], environment: [String: String] = [:], in folder: URL) throws -> BinaryRun {
        let logFile = folder.appendingPathComponent("stderr-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let process = ChildProcess()
        process.executableURL = binary
        process.arguments = arguments
        // The slow-query log is off unless a test turns it on: its lines report how loaded
        // the machine is, and tests that look for warnings are about the code.
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("EMPORIUM_") }
            .merging(["EMPORIUM_SLOW_QUERY_THRESHOLD": "0"].merging(environment) { _, new in new }) { _, new in new }
        process.standardError = try FileHandle(forWritingTo: logFile)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return BinaryRun(process: process, logFile: logFile)
    }

    /// Runs the binary to completion (at most 60 s); returns its exit status and standard error.
    static func run(
        _ arguments: [String], environment: [String: String] = [:], in folder: URL
    ) async throws -> (status: Int32, standardError: String) {
        let run = try start(arguments, environment: environment, in: folder)
        let status = await run.waitForExit(within: .seconds(60))
        return (status, run.log)
    }

    /// What the binary prints on standard output when run to completion (help texts).
    static func output(_ arguments: [String], in folder: URL) async throws -> String {
        let outputFile = folder.appendingPathComponent("stdout-\(UUID().uuidString).txt")
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        let process = ChildProcess()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("EMPORIUM_") }
        process.standardOutput = try FileHandle(forWritingTo: outputFile)
        process.standardError = FileHandle.nullDevice
        try process.run()
        _ = await BinaryRun(process: process, logFile: outputFile).waitForExit(within: .seconds(60))
        return try String(contentsOf: outputFile, encoding: .utf8)
    }

    var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    var lines: [Substring] { log.split(separator: "\n") }

    /// The log lines at WARNING level or above (text format: `TIME LEVEL message`).
    var alarmingLines: [Substring] {
        lines.filter { line in
            let fields = line.split(separator: " ", maxSplits: 2)
            return fields.count > 1 && ["WARNING", "ERROR", "CRITICAL"].contains(fields[1])
        }
    }

    /// The port from the "listening on http://127.0.0.1:PORT" line, once it is there; nil when
    /// the process ends or 30 s pass first.
    func listeningPort() async throws -> Int? {
        for _ in 0..<1500 {
            if let line = lines.first(where: { $0.contains("listening on http://") }),
                let range = line.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression)
            {
                return Int(line[range].split(separator: ":").last!)
            }
            if !process.isRunning { return nil }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// Waits until a line contains `text`; false when the process ends or 30 s pass first.
    func waitForLine(containing text: String) async throws -> Bool {
        for _ in 0..<1500 {
            if log.contains(text) { return true }
            if !process.isRunning { return log.contains(text) }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Waits for the process to end by itself; kills it after `limit`. Returns its status.
    func waitForExit(within limit: Duration) async -> Int32 {
        let deadline = ContinuousClock.now + limit
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { process.send(SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// SIGINT, as Ctrl-C sends, then waits (at most 30 s) for the process to end.
    func stop() async -> Int32 {
        process.interrupt()
        return await waitForExit(within: .seconds(30))
    }
}
