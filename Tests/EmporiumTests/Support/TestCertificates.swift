import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A certificate authority and certificates made for one test with the openssl command line:
/// nothing is shipped, nothing outlives the folder.
///
/// - `ca.pem` / `ca.key`: the authority the clients trust;
/// - `server.pem` / `server.key`: signed by it for `localhost` and `127.0.0.1`;
/// - `localhost-only.pem` / `localhost-only.key`: signed by it for `localhost` alone, so that a
///   client reaching the server as 127.0.0.1 sees a certificate for another name;
/// - `other-ca.pem` / `other-ca.key`: an authority nobody trusts, for the wrong-CA cases.
struct TestCertificates {
    let folder: URL

    var caCertificate: String { folder.appendingPathComponent("ca.pem").path }
    var otherCACertificate: String { folder.appendingPathComponent("other-ca.pem").path }
    var otherCAKey: String { folder.appendingPathComponent("other-ca.key").path }
    var serverCertificate: String { folder.appendingPathComponent("server.pem").path }
    var serverKey: String { folder.appendingPathComponent("server.key").path }
    var localhostOnlyCertificate: String { folder.appendingPathComponent("localhost-only.pem").path }
    var localhostOnlyKey: String { folder.appendingPathComponent("localhost-only.key").path }

    static var opensslAvailable: Bool {
        ["/usr/bin/openssl", "/usr/local/bin/openssl", "/bin/openssl"].contains { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Makes every file in `folder` (P-256 keys, valid for two days).
    static func make(in folder: URL) async throws -> TestCertificates {
        let script = """
            set -euo pipefail
            cd "$1"
            ca() {
                openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$2" \
                    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
                    -keyout "$1.key" -out "$1.pem"
            }
            leaf() {
                openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
                    -keyout "$1.key" -out "$1.csr"
                printf 'subjectAltName=%s\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' "$2" > "$1.ext"
                openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
                    -extfile "$1.ext" -out "$1.pem"
            }
            ca ca "Emporium test CA"
            ca other-ca "Someone else's CA"
            leaf server "DNS:localhost,IP:127.0.0.1"
            leaf localhost-only "DNS:localhost"
            chmod 600 *.key
            """
        let log = folder.appendingPathComponent("openssl.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", script, "make-certificates", folder.path]
        process.environment = ProcessInfo.processInfo.environment
        let output = try FileHandle(forWritingTo: log)
        process.standardOutput = output
        process.standardError = output
        try process.run()
        guard await waitForExit(process, within: .seconds(60)) == 0 else {
            throw CertificateError(log: (try? String(contentsOf: log, encoding: .utf8)) ?? "")
        }
        return TestCertificates(folder: folder)
    }

    /// Waits for `process` without blocking a thread of the test's small pool (a blocking wait
    /// there stalls every other test); kills it after `limit`. Returns its exit status.
    static func waitForExit(_ process: ChildProcess, within limit: Duration) async -> Int32 {
        let deadline = ContinuousClock.now + limit
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { process.send(SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    struct CertificateError: Error, CustomStringConvertible {
        let log: String
        var description: String { "openssl failed: \(log)" }
    }
}
