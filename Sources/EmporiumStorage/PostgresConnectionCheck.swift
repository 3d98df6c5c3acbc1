import Foundation
public import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension DatabaseURL.PostgresLocation {
    /// Opens and closes one connection, so that a server that cannot be reached is reported
    /// at start-up as one sentence: where it was looked for (host, port, database, user, never
    /// the password), what went wrong and what to check, rather than the driver's internals.
    public func checkReachable(connectTimeout: Duration = .seconds(10), logger: Logger) async throws(DatabaseError) {
        do {
            var configuration: PostgresConnection.Configuration
            if let socket = unixSocketPath {
                configuration = .init(unixSocketPath: socket, username: username, password: password, database: database)
            } else {
                configuration = .init(
                    host: host, port: port, username: username, password: password, database: database,
                    tls: try connectionTLS())
            }
            configuration.options.connectTimeout = .init(connectTimeout)
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            try await connection.close()
        } catch let error as DatabaseError {
            throw error
        } catch {
            throw .unavailable(unreachableMessage(error, connectTimeout: connectTimeout))
        }
    }

    /// "cannot connect to PostgreSQL at db:5432 (database shop, user app): …; check …".
    func unreachableMessage(_ error: any Error, connectTimeout: Duration) -> String {
        let place = unixSocketPath.map { "the socket \($0)" } ?? "\(host.contains(":") ? "[\(host)]" : host):\(port)"
        let prefix = "cannot connect to PostgreSQL at \(place) (database \(database), user \(username))"
        return "\(prefix): \(Self.explain(error, location: self, connectTimeout: connectTimeout)). It comes from --database-url (EMPORIUM_DATABASE_URL)"
    }

    private static func explain(_ error: any Error, location: Self, connectTimeout: Duration) -> String {
        if let error = error as? PSQLError {
            if let state = error.serverInfo?[.sqlState] {
                let message = error.serverInfo?[.message] ?? state
                switch state {
                case "28P01":
                    return "the server refused the password of user \(location.username); check the user and password in the URL"
                case "28000":
                    return "the server refused this client (\(message)); check pg_hba.conf allows this user, database and address"
                case "3D000":
                    return "database \(location.database) does not exist; create it (createdb \(location.database)) or correct the URL's path"
                case "57P03":
                    return "the server is starting up or shutting down; try again in a moment"
                case "53300":
                    return "the server has no connection slot free; raise max_connections or lower --postgres-pool-size on the nodes"
                default:
                    return "the server said: \(message)"
                }
            }
            switch error.code {
            case .sslUnsupported:
                return "the server does not offer TLS but the URL requires it; enable ssl on the server, or use sslmode=disable on a trusted network"
            case .authMechanismRequiresPassword:
                return "the server asks for a password and the URL has none; add it (postgres://USER:PASSWORD@HOST/DB)"
            case .serverClosedConnection, .uncleanShutdown:
                return "the server closed the connection during start-up; check that the port is PostgreSQL's and the server's log"
            default:
                break
            }
            if let underlying = error.underlying { return explain(underlying, location: location, connectTimeout: connectTimeout) }
        }
        if let error = error as? NIOConnectionError {
            if let failure = error.connectionErrors.first {
                return explain(failure.error, location: location, connectTimeout: connectTimeout)
            }
            if error.dnsAError != nil || error.dnsAAAAError != nil {
                return "the host name \(location.host) does not resolve; check its spelling and the DNS"
            }
        }
        if let error = error as? ChannelError, case .connectTimeout = error {
            return "no answer within \(connectTimeout.components.seconds) s; check the host and port, and that no firewall drops the connection"
        }
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED:
                return "nothing accepts connections there (connection refused); check that PostgreSQL is running and listens on that address and port (listen_addresses and port in postgresql.conf)"
            case ENOENT:
                return "the socket does not exist; check that PostgreSQL is running and the socket folder in the URL's host= item"
            case EACCES:
                return "permission denied on the socket; check that this user may use the socket folder"
            case ETIMEDOUT:
                return "the connection timed out; check the host and port, and that no firewall drops the connection"
            case EHOSTUNREACH, ENETUNREACH:
                return "the network cannot reach that host; check the host and the routes to it"
            default:
                return "\(String(cString: strerror(error.errnoCode))); check that PostgreSQL runs there and accepts connections"
            }
        }
        if error is SocketAddressError {
            return "the host name \(location.host) does not resolve; check its spelling and the DNS"
        }
        if error is NIOSSLError || error is NIOSSLExtraError {
            return "the TLS handshake failed (\(error)); check the server's certificate, the URL's sslrootcert (the CA that signed it) and sslmode (verify-full also checks that the certificate names the host)"
        }
        return "check that PostgreSQL runs there and accepts connections (\(String(describing: type(of: error))))"
    }
}
