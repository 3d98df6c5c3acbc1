import Foundation

/// Where the data lives, parsed from a URL:
///
/// - `sqlite://emporium.sqlite` (relative) or `sqlite:///var/lib/emporium.sqlite` (absolute)
/// - `sqlite::memory:` — a private in-memory database, gone when the process ends
/// - `postgres://user:password@host:5432/database` (also `postgresql://`), with optional
///   `?sslmode=disable|prefer|require|verify-ca|verify-full` (default `prefer`, meanings as
///   libpq's) with `&sslrootcert=/path/ca.pem` for the CA that signed the server's certificate,
///   `?schema=NAME` to work in a schema other than `public`, and `?host=/socket/dir` for a
///   Unix socket.
public enum DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    case sqliteFile(path: String)
    case sqliteMemory
    case postgres(PostgresLocation)

    public struct PostgresLocation: Sendable, Equatable {
        public enum TLSMode: String, Sendable, Equatable {
            case disable, prefer, require
            case verifyCA = "verify-ca"
            case verifyFull = "verify-full"
        }

        public var host: String
        public var port: Int
        public var unixSocketPath: String?
        public var username: String
        public var password: String?
        public var database: String
        public var tls: TLSMode
        /// The schema to work in (`search_path`); `nil` for the server's default.
        public var schema: String?
        /// PEM file with the CA certificates that may sign the server's certificate
        /// (`sslrootcert=`); `nil` trusts the system's store under `verify-ca`/`verify-full`.
        public var rootCertificatePath: String?
    }

    public init(parsing text: String) throws(DatabaseURLError) {
        if text == "sqlite::memory:" {
            self = .sqliteMemory
            return
        }
        if text.hasPrefix("sqlite://") {
            let path = String(text.dropFirst("sqlite://".count))
            guard !path.isEmpty, !path.hasSuffix("/") else {
                throw DatabaseURLError("sqlite URL has no file path; use sqlite://emporium.sqlite or sqlite::memory:")
            }
            guard !path.contains("\0"), !path.contains("?") else {
                throw DatabaseURLError("sqlite URL path may not contain '?' or NUL characters")
            }
            self = .sqliteFile(path: path)
            return
        }
        guard let scheme = text.split(separator: ":", maxSplits: 1).first.map(String.init), text.contains("://") else {
            throw DatabaseURLError("not a database URL; expected sqlite://FILE, sqlite::memory: or postgres://USER@HOST/DB")
        }
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw DatabaseURLError("unsupported database URL scheme '\(scheme)'; expected sqlite or postgres")
        }
        self = .postgres(try PostgresLocation(parsing: text))
    }

    public var dialect: SQLDialect {
        switch self {
        case .sqliteFile, .sqliteMemory: .sqlite
        case .postgres: .postgres
        }
    }

    /// The URL without its password, for logs and messages.
    public var description: String {
        switch self {
        case .sqliteFile(let path): "sqlite://\(path)"
        case .sqliteMemory: "sqlite::memory:"
        case .postgres(let location):
            if let socket = location.unixSocketPath {
                "postgres://\(location.username)@/\(location.database)?host=\(socket)"
                    + (location.schema.map { "&schema=\($0)" } ?? "")
            } else {
                "postgres://\(location.username)@\(location.hostForURL):\(location.port)/\(location.database)"
                    + (location.schema.map { "?schema=\($0)" } ?? "")
            }
        }
    }
}

extension DatabaseURL.PostgresLocation {
    init(parsing text: String) throws(DatabaseURLError) {
        guard let components = URLComponents(string: text) else {
            throw DatabaseURLError("postgres URL is malformed (percent-encode special characters in the password)")
        }
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        let socketDirectory = query["host"].flatMap { $0.hasPrefix("/") ? $0 : nil }

        // URLComponents keeps the brackets of an IPv6 literal; the address is what is inside.
        let host = (components.host ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard !host.isEmpty || socketDirectory != nil else {
            throw DatabaseURLError("postgres URL has no host; use postgres://USER:PASSWORD@HOST:5432/DATABASE")
        }
        if let rawPort = components.port, !(1...65535).contains(rawPort) {
            throw DatabaseURLError("postgres URL port \(rawPort) is out of range")
        }
        guard let username = components.user?.removingPercentEncoding ?? components.user, !username.isEmpty else {
            throw DatabaseURLError("postgres URL has no user name; use postgres://USER:PASSWORD@HOST/DATABASE")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw DatabaseURLError("postgres URL has no database name; use postgres://USER@HOST/DATABASE")
        }
        let tls: TLSMode
        if let mode = query["sslmode"] {
            guard let parsed = TLSMode(rawValue: mode) else {
                throw DatabaseURLError(
                    "postgres URL sslmode '\(mode)' is not known; use disable, prefer, require, verify-ca or verify-full")
            }
            tls = parsed
        } else {
            tls = .prefer
        }
        let rootCertificatePath = query["sslrootcert"]
        if let rootCertificatePath {
            guard !rootCertificatePath.isEmpty, !rootCertificatePath.contains("\0") else {
                throw DatabaseURLError("postgres URL sslrootcert must name a PEM file of CA certificates")
            }
            guard tls != .disable else {
                throw DatabaseURLError("postgres URL has sslrootcert but sslmode=disable; drop one (verify-full checks the server against it)")
            }
        }
        let schema = query["schema"]
        if let schema {
            let valid = !schema.isEmpty && schema.count <= 63
                && schema.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
                && !("0"..."9").contains(schema.unicodeScalars.first!)
            guard valid else {
                throw DatabaseURLError("postgres URL schema must be lower-case letters, digits and _ (at most 63)")
            }
        }
        let port = components.port ?? 5432
        self.init(
            host: host,
            port: port,
            unixSocketPath: socketDirectory.map { "\($0)/.s.PGSQL.\(port)" },
            username: username,
            password: components.password.map { $0.removingPercentEncoding ?? $0 },
            database: database.removingPercentEncoding ?? database,
            tls: tls,
            schema: schema,
            rootCertificatePath: rootCertificatePath)
    }

    var hostForURL: String { host.contains(":") ? "[\(host)]" : host }
}

/// A database URL that cannot be used, with a message that says how to write it.
public struct DatabaseURLError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
