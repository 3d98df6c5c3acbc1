import Foundation
import HummingbirdCore
import HummingbirdHTTP2
import NIOCore
import NIOSSL

/// HTTPS served by the process itself (`--tls-cert-file` with `--tls-key-file`): TLS 1.2 or
/// newer, HTTP/2 or HTTP/1.1 as the client's ALPN asks. Without the two files the server speaks
/// plain HTTP and expects a proxy in front to terminate TLS (deploy/haproxy.cfg).
enum ServerTLS {
    /// The server's TLS configuration, or `nil` when neither file is set. Reads both files and
    /// builds a context from them once, so that a missing, unreadable or mismatched file stops
    /// start-up with a sentence naming the flag instead of failing each handshake later.
    static func configuration(_ configuration: AppConfiguration) throws(ConfigurationError) -> TLSConfiguration? {
        let certificate = ConfigurationSetting.tlsCertFile, key = ConfigurationSetting.tlsKeyFile
        switch (configuration.tlsCertFile, configuration.tlsKeyFile) {
        case (nil, nil):
            return nil
        case (nil, _?):
            throw ConfigurationError(description: """
                \(key.flag) (\(key.environmentVariable)) is set but \(certificate.flag) (\(certificate.environmentVariable)) \
                is not; HTTPS needs both, the certificate chain and its private key, or neither for plain HTTP
                """)
        case (_?, nil):
            throw ConfigurationError(description: """
                \(certificate.flag) (\(certificate.environmentVariable)) is set but \(key.flag) (\(key.environmentVariable)) \
                is not; HTTPS needs both, the certificate chain and its private key, or neither for plain HTTP
                """)
        case (let certificatePath?, let keyPath?):
            let selfSigned = """
                openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=localhost \
                -keyout \(keyPath) -out \(certificatePath) (self-signed, for trying it out; in production use your CA's)
                """
            try KeyFileCheck.check(certificatePath, what: "TLS certificate", setting: certificate, create: selfSigned)
            try KeyFileCheck.check(keyPath, what: "TLS private key", setting: key, create: selfSigned)
            return try load(certificatePath: certificatePath, keyPath: keyPath)
        }
    }

    private static func load(certificatePath: String, keyPath: String) throws(ConfigurationError) -> TLSConfiguration {
        let certificate = ConfigurationSetting.tlsCertFile, key = ConfigurationSetting.tlsKeyFile
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            chain = []
        }
        guard !chain.isEmpty else {
            throw ConfigurationError(description: """
                the TLS certificate file \(certificatePath) given by \(certificate.flag) (\(certificate.environmentVariable)) \
                holds no PEM certificate; give the server's certificate followed by its intermediates, in PEM
                """)
        }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw ConfigurationError(description: """
                the TLS private key file \(keyPath) given by \(key.flag) (\(key.environmentVariable)) holds no \
                unencrypted PEM private key; give the certificate's key, without a passphrase
                """)
        }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        tls.minimumTLSVersion = .tlsv12
        // TLS 1.2 suites: forward-secret key exchange and AEAD ciphers only (swift-nio-ssl's
        // default list also allows RSA key exchange and CBC). TLS 1.3's are all of that kind.
        tls.cipherSuites = Self.tls12CipherSuites
        do {
            // Fails when the key is not the certificate's.
            _ = try NIOSSLContext(configuration: tls)
        } catch {
            throw ConfigurationError(description: """
                cannot use the TLS certificate \(certificatePath) (\(certificate.flag)) with the private key \(keyPath) \
                (\(key.flag)): \(error); check that the key belongs to the first certificate of the file
                """)
        }
        return tls
    }

    static let tls12CipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    /// The server for `tls`: plain HTTP/1.1 without it; with it, TLS first and then HTTP/2 or
    /// HTTP/1.1 by ALPN. Each HTTP/1.1 connection, and each HTTP/2 stream, gets `http1`'s
    /// handlers and timeouts; a handshake must finish within the request timeout (or the idle
    /// timeout when that is off), so that a client cannot hold a connection by never finishing it.
    static func server(
        _ http1: HTTP1Channel.Configuration, tls: TLSConfiguration?, configuration: AppConfiguration
    ) -> HTTPServerBuilder {
        guard let tls else { return .http1(configuration: http1) }
        let http2 = HTTP2ChannelConfiguration(idleTimeout: configuration.idleTimeout, streamConfiguration: http1)
        let handshakeLimit = TimeAmount(configuration.requestTimeout ?? configuration.idleTimeout)
        return HTTPServerBuilder { responder in
            TLSHandshakeDeadlineChannel(
                base: try HTTP2UpgradeChannel(tlsConfiguration: tls, configuration: http2, responder: responder),
                limit: handshakeLimit)
        }
    }
}
