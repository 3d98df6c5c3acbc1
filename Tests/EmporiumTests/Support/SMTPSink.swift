import Foundation
import Testing

/// A real SMTP server for one test: `smtp_sink.py` (aiosmtpd) in a child process, listening on
/// a free port of 127.0.0.1 and writing what it accepts into a folder. `run` always stops it.
final class SMTPSink {
    enum Mode: String {
        case normal
        /// Replies 550 to every RCPT TO.
        case rejectRecipients = "reject-rcpt"
        /// Greets, then closes the connection.
        case drop
        /// Accepts the connection and never says a word.
        case silent
        /// Offers STARTTLS and sends more plaintext replies right after its 220 to it.
        case inject
    }

    enum Security {
        case none
        /// Offers STARTTLS with a certificate for `localhost` and `127.0.0.1` (see `certificate`).
        case startTLS
        /// TLS from the first byte, with the same certificate.
        case implicitTLS
    }

    /// One accepted message: its text as received after DATA and its envelope.
    struct Received {
        let text: String
        let envelope: Envelope
    }

    struct Envelope: Decodable {
        let mailFrom: String
        let rcptTos: [String]
        let mailOptions: [String]
        let tls: Bool
        let authenticated: Bool
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Whether the tests that need the server run: always when `EMPORIUM_SMTP_TESTS=required`
    /// (CI), which makes a missing aiosmtpd a failure; otherwise only when aiosmtpd is installed.
    static var shouldRun: Bool { isRequired || isAvailable }
    static let isRequired = ProcessInfo.processInfo.environment["EMPORIUM_SMTP_TESTS"] == "required"
    static let isAvailable: Bool = (try? run(["python3", "-c", "import aiosmtpd"])) != nil

    let port: Int
    /// The PEM certificate the server presents, to pass as `ca_file`; `nil` without TLS.
    let certificate: String?
    private let directory: URL
    private let folder: URL
    private let process: ChildProcess

    /// Starts a server, runs `body` with it and stops the server, whether `body` succeeds or not.
    static func run(
        mode: Mode = .normal, security: Security = .none, account: (user: String, password: String)? = nil,
        loginOnly: Bool = false, _ body: (SMTPSink) async throws -> Void
    ) async throws {
        let sink = try await SMTPSink(mode: mode, security: security, account: account, loginOnly: loginOnly)
        do {
            try await body(sink)
        } catch {
            await sink.stop()
            throw error
        }
        await sink.stop()
    }

    private init(mode: Mode, security: Security, account: (user: String, password: String)?, loginOnly: Bool) async throws {
        guard Self.isAvailable else {
            throw Failure(description: "python3 cannot import aiosmtpd, which the SMTP tests need: pip install aiosmtpd")
        }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-smtp-\(UUID().uuidString)")
        folder = directory.appendingPathComponent("mail")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let portFile = directory.appendingPathComponent("port").path
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("smtp_sink.py").path

        var arguments = ["python3", script, "--folder", folder.path, "--port-file", portFile, "--mode", mode.rawValue]
        if security != .none {
            let certificate = directory.appendingPathComponent("cert.pem").path
            let key = directory.appendingPathComponent("key.pem").path
            try Self.run([
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "2",
                "-keyout", key, "-out", certificate,
            ])
            arguments += ["--cert", certificate, "--key", key]
            if security == .implicitTLS { arguments.append("--implicit-tls") }
            self.certificate = certificate
        } else {
            self.certificate = nil
        }
        if let account { arguments += ["--auth", "\(account.user):\(account.password)"] }
        if loginOnly { arguments.append("--no-plain") }

        let log = directory.appendingPathComponent("server.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        try process.run()
        try? output.close()

        // The script writes its port once it listens.
        let started = ContinuousClock.now
        while true {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) {
                self.port = port
                break
            }
            if !process.isRunning || ContinuousClock.now - started > .seconds(15) {
                let why = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                if process.isRunning { process.terminate() }
                process.waitUntilExit()
                try? FileManager.default.removeItem(at: directory)
                throw Failure(description: "the SMTP test server did not start: \(why)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// The messages accepted so far, in order.
    func received() throws -> [Received] {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        let numbers = names.compactMap { $0.hasSuffix(".eml") ? Int($0.dropLast(4)) : nil }.sorted()
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try numbers.map { number in
            let text = try String(contentsOf: folder.appendingPathComponent("\(number).eml"), encoding: .utf8)
            let envelope = try decoder.decode(Envelope.self, from: Data(contentsOf: folder.appendingPathComponent("\(number).json")))
            return Received(text: text, envelope: envelope)
        }
    }

    private func stop() async {
        if process.isRunning { process.terminate() }
        let asked = ContinuousClock.now
        while process.isRunning {
            if ContinuousClock.now - asked > .seconds(5) { kill(process.processIdentifier, SIGKILL) }
            try? await Task.sleep(for: .milliseconds(20))
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs a command to its end; throws when it fails.
    @discardableResult
    private static func run(_ command: [String]) throws -> Int32 {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(command.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
        return process.terminationStatus
    }
}
