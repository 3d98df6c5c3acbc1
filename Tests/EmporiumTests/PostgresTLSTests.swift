import AsyncHTTPClient
import Emporium
import EmporiumStorage
import Foundation
import Logging
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The database URL's `sslmode` and `sslrootcert` against a real PostgreSQL with `ssl=on`: a
/// throwaway server (scripts/throwaway-postgres.sh) of the test's own, whose certificate names
/// `localhost` only and is signed by a CA the test made.
@Suite(.enabled(if: TestCertificates.postgresServerAvailable, "needs PostgreSQL's server binaries and openssl"))
struct PostgresTLSTests {
    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Starts PostgreSQL with TLS on, runs `body` with its port, then stops it.
    func withTLSServer(_ body: (TestCertificates, Int) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-pgtls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let certificates = try await TestCertificates.make(in: folder)
        // The server runs as the postgres user when we are root: it must reach the folder and
        // own its key. The script stops it when the test writes the file `stop` (a signal may
        // be ignored in the test process, and so in its children), or after five minutes.
        let script = """
            set -euo pipefail
            source scripts/throwaway-postgres.sh
            trap stop_throwaway_postgres EXIT
            folder=$1
            if [ "$(id -u)" = 0 ]; then
                chmod 755 "$folder"
                chown postgres "$folder/localhost-only.key" "$folder/localhost-only.pem"
            fi
            start_throwaway_postgres -c ssl=on -c ssl_min_protocol_version=TLSv1.2 \
                -c ssl_cert_file="$folder/localhost-only.pem" -c ssl_key_file="$folder/localhost-only.key"
            echo "$THROWAWAY_POSTGRES_URL" > "$folder/url.tmp" && mv "$folder/url.tmp" "$folder/url"
            for _ in $(seq 3000); do [ -e "$folder/stop" ] && break; sleep 0.1; done
            """
        let log = folder.appendingPathComponent("postgres.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "cd \"$1\" && shift && \(script)", "postgres-tls", Self.repository.path, folder.path]
        process.environment = ProcessInfo.processInfo.environment
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let urlFile = folder.appendingPathComponent("url")
        var port: Int?
        for _ in 0..<1500 where process.isRunning {
            if let text = try? String(contentsOf: urlFile, encoding: .utf8),
                let range = text.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression)
            {
                port = Int(text[range].split(separator: ":").last!)
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        func stop() async {
            _ = FileManager.default.createFile(atPath: folder.appendingPathComponent("stop").path, contents: nil)
            _ = await TestCertificates.waitForExit(process, within: .seconds(30))
        }
        do {
            guard let port else {
                throw TLSTestError.notListening((try? String(contentsOf: log, encoding: .utf8)) ?? "")
            }
            try await body(certificates, port)
        } catch {
            await stop()
            throw error
        }
        await stop()
    }

    func location(_ text: String) throws -> DatabaseURL.PostgresLocation {
        guard case .postgres(let location) = try DatabaseURL(parsing: text) else { throw TLSTestError.notListening(text) }
        return location
    }

    func reach(_ text: String) async -> String? {
        do {
            try await location(text).checkReachable(connectTimeout: .seconds(5), logger: Logger(label: "test"))
            return nil
        } catch {
            return String(describing: error)
        }
    }

    @Test func sslModesMeanWhatLibpqMeans() async throws {
        try await withTLSServer { certificates, port in
            let base = "postgres://emporium@127.0.0.1:\(port)/emporium"
            let byName = "postgres://emporium@localhost:\(port)/emporium"
            let ca = certificates.caCertificate, otherCA = certificates.otherCACertificate

            // Encrypted without checking whose certificate it is, as libpq's require and prefer.
            #expect(await reach("\(base)?sslmode=require") == nil)
            #expect(await reach("\(base)?sslmode=prefer") == nil)
            // The CA checks the chain; the certificate names localhost, so only verify-full by
            // that name passes the name check.
            #expect(await reach("\(base)?sslmode=verify-ca&sslrootcert=\(ca)") == nil)
            #expect(await reach("\(byName)?sslmode=verify-full&sslrootcert=\(ca)") == nil)
            let wrongName = await reach("\(base)?sslmode=verify-full&sslrootcert=\(ca)")
            #expect(wrongName?.contains("TLS handshake failed") == true, "\(wrongName ?? "connected")")
            // Another CA is refused by every mode that checks, require included once it has a CA.
            for mode in ["verify-full", "verify-ca", "require"] {
                let refused = await reach("\(byName)?sslmode=\(mode)&sslrootcert=\(otherCA)")
                #expect(refused?.contains("TLS handshake failed") == true, "\(mode): \(refused ?? "connected")")
            }
            let missing = await reach("\(byName)?sslmode=verify-full&sslrootcert=\(certificates.folder.path)/absent.pem")
            #expect(missing?.contains("cannot read the CA file") == true, "\(missing ?? "connected")")
            let notPEM = await reach("\(byName)?sslmode=verify-full&sslrootcert=\(certificates.folder.path)/openssl.log")
            #expect(notPEM?.contains("PEM") == true, "\(notPEM ?? "connected")")
        }
    }

    @Test func serveRunsOverVerifiedTLSAndRefusesAWrongCA() async throws {
        try await withTLSServer { certificates, port in
            let folder = certificates.folder
            let keys = try await TestCertificates.makeNodeKeys(in: folder)
            let url = "postgres://emporium@localhost:\(port)/emporium?sslmode=verify-full&sslrootcert=\(certificates.caCertificate)"
            let common = [
                "--test-payments", "false", "--workers", "0",
                "--jwt-key-file", keys.signing, "--encryption-key-file", keys.encryption,
            ]
            let server = try BinaryRun.start(["serve", "--port", "0", "--database-url", url] + common, in: folder)
            let port = try await server.listeningPort()
            #expect(port != nil, "\(server.log)")
            if let port {
                // Ready means the pool reached the database, through the same TLS settings.
                let ready = try await TLSTests().get("http://127.0.0.1:\(port)/health/ready")
                #expect(ready.status == .ok)
            }
            #expect(await server.stop() == 0)

            let wrongCA = url.replacingOccurrences(of: certificates.caCertificate, with: certificates.otherCACertificate)
            let refused = try await BinaryRun.run(["serve", "--port", "0", "--database-url", wrongCA] + common, in: folder)
            #expect(refused.status == 1)
            #expect(refused.standardError.contains("TLS handshake failed"), "\(refused.standardError)")
            #expect(refused.standardError.contains("sslrootcert"), "\(refused.standardError)")
        }
    }
}

/// How the database URL reads `sslmode` and `sslrootcert`, without a server.
@Suite struct PostgresTLSURLTests {
    func location(_ text: String) throws -> DatabaseURL.PostgresLocation {
        guard case .postgres(let location) = try DatabaseURL(parsing: text) else { throw TLSTestError.notListening(text) }
        return location
    }

    @Test func readsEveryLibpqModeAndTheCAFile() throws {
        let modes: [(String, DatabaseURL.PostgresLocation.TLSMode)] = [
            ("disable", .disable), ("prefer", .prefer), ("require", .require), ("verify-ca", .verifyCA),
            ("verify-full", .verifyFull),
        ]
        for (text, mode) in modes {
            #expect(try location("postgres://app@db/shop?sslmode=\(text)").tls == mode)
        }
        let verified = try location("postgres://app@db/shop?sslmode=verify-full&sslrootcert=/etc/emporium/db-ca.pem")
        #expect(verified.tls == .verifyFull && verified.rootCertificatePath == "/etc/emporium/db-ca.pem")
        #expect(try location("postgres://app@db/shop").rootCertificatePath == nil)
    }

    @Test(arguments: [
        ("postgres://app@db/shop?sslmode=verify_full", "sslmode 'verify_full' is not known"),
        ("postgres://app@db/shop?sslmode=allow", "sslmode 'allow' is not known"),
        ("postgres://app@db/shop?sslmode=disable&sslrootcert=/ca.pem", "sslrootcert but sslmode=disable"),
        ("postgres://app@db/shop?sslmode=verify-full&sslrootcert=", "sslrootcert must name a PEM file"),
    ])
    func refusesWhatItCannotHonour(text: String, message: String) {
        #expect {
            try DatabaseURL(parsing: text)
        } throws: { error in
            String(describing: error).contains(message)
        }
    }
}

extension TestCertificates {
    static var postgresServerAvailable: Bool {
        opensslAvailable
            && ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).contains {
                FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\($0)/bin/initdb")
            }
    }

    /// A token signing key and an encryption key file, which a node on PostgreSQL requires.
    static func makeNodeKeys(in folder: URL) async throws -> (signing: String, encryption: String) {
        let signing = folder.appendingPathComponent("jwt-key.pem").path
        let encryption = folder.appendingPathComponent("encryption-keys").path
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [
            "-c", "set -e; umask 077; openssl genpkey -algorithm ed25519 -out \"$1\"; echo \"k1 $(openssl rand -base64 32)\" > \"$2\"",
            "node-keys", signing, encryption,
        ]
        process.environment = ProcessInfo.processInfo.environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        guard await waitForExit(process, within: .seconds(60)) == 0 else { throw CertificateError(log: "openssl genpkey failed") }
        return (signing, encryption)
    }
}
