import Emporium
import EmporiumStorage
import Foundation
import Logging
import JWTKit
import PostgresNIO

/// A fresh, empty database for one test: a new SQLite file in a temporary folder, or a new
/// schema on the PostgreSQL server named by `EMPORIUM_TEST_DATABASE_URL` when it is set.
/// It is removed when the test ends, whatever the outcome.
enum TestDatabase {
    static let postgresURL: DatabaseURL? = {
        guard let text = ProcessInfo.processInfo.environment["EMPORIUM_TEST_DATABASE_URL"], !text.isEmpty else {
            return nil
        }
        do {
            return try DatabaseURL(parsing: text)
        } catch {
            fatalError("EMPORIUM_TEST_DATABASE_URL is not usable: \(error)")
        }
    }()

    static var dialect: SQLDialect { postgresURL == nil ? .sqlite : .postgres }

    /// The configuration tests start from: this database, a free port, no rate limit, the
    /// cheapest bcrypt cost, and for PostgreSQL a signing key shared by the whole run.
    static func configuration(for url: DatabaseURL) -> AppConfiguration {
        var configuration = AppConfiguration()
        configuration.databaseURL = url
        configuration.port = 0
        configuration.rateLimit = nil
        configuration.bcryptCost = 4
        // Tests run background work themselves (`TestApp.jobs.drain()`), so it is deterministic.
        configuration.workers = 0
        configuration.testPayments = true
        // Webhook receivers in tests listen on loopback.
        configuration.webhookAllowPrivateAddresses = true
        configuration.mailFolder = FileManager.default.temporaryDirectory
            .appendingPathComponent("emporium-mail-\(UUID().uuidString)").path
        if case .postgres = url {
            // Several apps run at once; each keeps its pool small so that together they stay
            // well inside the server's connection limit.
            configuration.postgresPoolSize = 6
            configuration.jwtKeyFile = signingKeyFile
            configuration.encryptionKeyFile = encryptionKeyFile
        }
        return configuration
    }

    static let encryptionKeyFile: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-test-keys-\(UUID().uuidString)").path
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max) }
        _ = FileManager.default.createFile(atPath: path, contents: Data("k1 \(Data(bytes).base64EncodedString())\n".utf8))
        return path
    }()

    static let signingKeyFile: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-test-key-\(UUID().uuidString).pem").path
        guard let key = try? EdDSA.PrivateKey(curve: .ed25519) else { fatalError("cannot generate an Ed25519 key") }
        _ = FileManager.default.createFile(atPath: path, contents: Data(key.pemRepresentation.utf8))
        return path
    }()

    static func withFresh<Result>(_ body: (DatabaseURL) async throws -> Result) async throws -> Result {
        switch postgresURL {
        case .postgres(let server)?:
            // Swift Testing starts every test at once; bounding the databases in use bounds
            // the connections they open (each app holds a pool and a listener).
            await postgresSlots.acquire()
            defer { Task { await postgresSlots.release() } }
            let schema = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
            try await runOnServer(server, "CREATE SCHEMA \(schema)")
            var location = server
            location.schema = String(schema)
            do {
                let result = try await body(.postgres(location))
                try await runOnServer(server, "DROP SCHEMA \(schema) CASCADE")
                return result
            } catch {
                try? await runOnServer(server, "DROP SCHEMA \(schema) CASCADE")
                throw error
            }
        default:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-test-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            return try await body(.sqliteFile(path: folder.appendingPathComponent("test.sqlite").path))
        }
    }

    static let postgresSlots = AsyncSemaphore(8)

    /// Runs one administrative statement over a connection of its own.
    static func runOnServer(_ location: DatabaseURL.PostgresLocation, _ statement: String) async throws {
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.username, password: location.password,
            database: location.database, tls: .disable)
        if let socket = location.unixSocketPath {
            configuration = .init(
                unixSocketPath: socket, username: location.username, password: location.password,
                database: location.database)
        }
        let connection = try await PostgresConnection.connect(
            configuration: configuration, id: 1, logger: Logger(label: "test-admin"))
        do {
            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: Logger(label: "test-admin"))
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

extension DatabaseURL {
    /// The URL as a command line takes it, password and all.
    var connectionString: String {
        guard case .postgres(let location) = self else { return description }
        var text = "postgres://\(location.username)"
        if let password = location.password {
            text += ":" + (password.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? password)
        }
        let host = location.host.contains(":") ? "[\(location.host)]" : location.host
        text += "@\(host):\(location.port)/\(location.database)?sslmode=\(location.tls.rawValue)"
        if let schema = location.schema { text += "&schema=\(schema)" }
        return text
    }
}

/// A counting semaphore for async code: `acquire` waits while all slots are taken.
actor AsyncSemaphore {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(_ slots: Int) {
        available = slots
    }

    func acquire() async {
        if available > 0 {
            available -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty {
            available += 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}
