import Foundation
import NIOSSL
import PostgresNIO

/// What each `sslmode` of a database URL means for the connection, as libpq means it, so that
/// a URL copied from `psql` behaves the same here:
///
/// | sslmode | encrypted | server's certificate checked |
/// | --- | --- | --- |
/// | `disable` | no | — |
/// | `prefer` | when the server offers it | no (against `sslrootcert` when given) |
/// | `require` | yes | no (against `sslrootcert` when given, as libpq does) |
/// | `verify-ca` | yes | signed by `sslrootcert` (or the system's CAs) |
/// | `verify-full` | yes | signed so, and issued for the host in the URL |
///
/// Only `verify-full` stops a machine in the middle that presents a certificate of its own.
/// TLS 1.2 is the lowest version offered. A Unix socket never uses TLS.
extension DatabaseURL.PostgresLocation {
    /// The client side of the handshake for `tls`; `nil` for `disable`.
    var clientTLSConfiguration: TLSConfiguration? {
        guard tls != .disable else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let rootCertificatePath {
            configuration.trustRoots = .file(rootCertificatePath)
        }
        switch tls {
        case .disable, .prefer, .require:
            configuration.certificateVerification = rootCertificatePath == nil ? .none : .noHostnameVerification
        case .verifyCA:
            configuration.certificateVerification = .noHostnameVerification
        case .verifyFull:
            configuration.certificateVerification = .fullVerification
        }
        return configuration
    }

    /// The pool's TLS setting.
    var clientTLS: PostgresClient.Configuration.TLS {
        guard let configuration = clientTLSConfiguration else { return .disable }
        return tls == .prefer ? .prefer(configuration) : .require(configuration)
    }

    /// A single connection's TLS setting; reading the CA file here makes a missing or broken
    /// one a start-up failure that names it, before the pool tries and fails over and over.
    func connectionTLS() throws(DatabaseError) -> PostgresConnection.Configuration.TLS {
        guard let configuration = clientTLSConfiguration else { return .disable }
        let context: NIOSSLContext
        do {
            if let path = rootCertificatePath {
                guard FileManager.default.isReadableFile(atPath: path) else {
                    throw DatabaseError.unavailable(
                        "cannot read the CA file \(path) given by sslrootcert= in --database-url (EMPORIUM_DATABASE_URL); check the path and that this user may read it")
                }
                // Parsed here so that a file that is not PEM certificates is named as such.
                guard try !NIOSSLCertificate.fromPEMFile(path).isEmpty else {
                    throw DatabaseError.unavailable(
                        "cannot set up TLS for PostgreSQL: the CA file \(path) given by sslrootcert= in --database-url holds no PEM certificate")
                }
            }
            context = try NIOSSLContext(configuration: configuration)
        } catch let error as DatabaseError {
            throw error
        } catch {
            let source = rootCertificatePath.map { "the CA file \($0) given by sslrootcert= in --database-url is not usable (PEM certificates expected)" }
            throw .unavailable("cannot set up TLS for PostgreSQL: \(source ?? String(describing: error))")
        }
        return tls == .prefer ? .prefer(context) : .require(context)
    }
}
