import EmporiumCore
import EmporiumStorage
import Foundation
import Logging

/// Every operator setting in one table: its flag, its environment variable, its default and
/// how its text is read. The command line and the README's configuration table both come
/// from here, so the three can never disagree.
public struct ConfigurationSetting: Sendable {
    /// The flag without dashes, e.g. `database-url`.
    public let name: String
    public let defaultValue: String
    public let summary: String
    let apply: @Sendable (inout AppConfiguration, String) throws(ConfigurationError) -> Void

    public var flag: String { "--\(name)" }
    public var environmentVariable: String { Self.environmentVariable(of: name) }

    static func environmentVariable(of name: String) -> String {
        "EMPORIUM_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
    }
}

/// A setting whose text cannot be used, named by both its flag and its variable.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
}

extension ConfigurationSetting {
    public static let host = ConfigurationSetting(
        name: "host", defaultValue: "127.0.0.1", summary: "Address to listen on; 0.0.0.0 for every interface."
    ) { configuration, text throws(ConfigurationError) in
        guard !text.isEmpty, !text.contains(where: \.isWhitespace) else { throw invalid("host", text, "a host name or IP address") }
        configuration.host = text
    }

    public static let port = ConfigurationSetting(
        name: "port", defaultValue: "8080", summary: "TCP port; 0 picks a free one."
    ) { configuration, text throws(ConfigurationError) in
        configuration.port = try integer("port", text, in: 0...65535)
    }

    public static let databaseURL = ConfigurationSetting(
        name: "database-url", defaultValue: "sqlite://emporium.sqlite",
        summary: "sqlite://FILE, sqlite::memory: or postgres://USER:PASSWORD@HOST:PORT/DB (sslmode=disable|prefer|require|verify-ca|verify-full, sslrootcert=CA.pem, schema= as query items)."
    ) { configuration, text throws(ConfigurationError) in
        do {
            configuration.databaseURL = try DatabaseURL(parsing: text)
        } catch {
            throw ConfigurationError(description: "invalid \(names("database-url")): \(error)")
        }
    }

    public static let databaseReadURL = ConfigurationSetting(
        name: "database-read-url", defaultValue: "",
        summary: "A PostgreSQL replica (same syntax as --database-url) for storefront catalog reads and reports; empty reads everything from --database-url."
    ) { configuration, text throws(ConfigurationError) in
        guard !text.isEmpty else {
            configuration.databaseReadURL = nil
            return
        }
        let url: DatabaseURL
        do {
            url = try DatabaseURL(parsing: text)
        } catch {
            throw ConfigurationError(description: "invalid \(names("database-read-url")): \(error)")
        }
        guard case .postgres = url else {
            throw ConfigurationError(description: "\(names("database-read-url")) must be a postgres:// URL: read replicas are PostgreSQL only")
        }
        guard case .postgres = configuration.databaseURL else {
            throw ConfigurationError(
                description: "\(names("database-read-url")) needs a PostgreSQL --database-url: an SQLite file has no replicas")
        }
        configuration.databaseReadURL = url
    }

    public static let logFormat = ConfigurationSetting(
        name: "log-format", defaultValue: "text", summary: "text (readable) or json (one JSON object per line)."
    ) { configuration, text throws(ConfigurationError) in
        guard let format = AppConfiguration.LogFormat(rawValue: text) else { throw invalid("log-format", text, "text or json") }
        configuration.logFormat = format
    }

    public static let logLevel = ConfigurationSetting(
        name: "log-level", defaultValue: "info", summary: "trace, debug, info, notice, warning, error or critical."
    ) { configuration, text throws(ConfigurationError) in
        guard let level = Logger.Level(rawValue: text) else {
            throw invalid("log-level", text, "trace, debug, info, notice, warning, error or critical")
        }
        configuration.logLevel = level
    }

    public static let maxBodyBytes = ConfigurationSetting(
        name: "max-body-bytes", defaultValue: "1048576", summary: "Largest request body; larger ones get 413."
    ) { configuration, text throws(ConfigurationError) in
        configuration.maxBodyBytes = try integer("max-body-bytes", text, in: 1...(1 << 30))
    }

    public static let idleTimeout = ConfigurationSetting(
        name: "idle-timeout", defaultValue: "60", summary: "Seconds a connection may stay silent before it is closed."
    ) { configuration, text throws(ConfigurationError) in
        configuration.idleTimeout = .seconds(try integer("idle-timeout", text, in: 1...86_400))
    }

    public static let requestTimeout = ConfigurationSetting(
        name: "request-timeout", defaultValue: "30",
        summary: "Seconds a client has to send a whole request, headers and body; then the connection is closed. 0 turns it off."
    ) { configuration, text throws(ConfigurationError) in
        let seconds = try integer("request-timeout", text, in: 0...3_600)
        configuration.requestTimeout = seconds == 0 ? nil : .seconds(seconds)
    }

    public static let maxConnectionsPerAddress = ConfigurationSetting(
        name: "max-connections-per-address", defaultValue: "256",
        summary: "Connections one client address may hold open at once; more are closed on arrival. 0 turns it off (behind a load balancer every connection comes from its address)."
    ) { configuration, text throws(ConfigurationError) in
        let limit = try integer("max-connections-per-address", text, in: 0...1_000_000)
        configuration.maxConnectionsPerAddress = limit == 0 ? nil : limit
    }

    public static let shutdownGrace = ConfigurationSetting(
        name: "shutdown-grace", defaultValue: "30",
        summary: "Seconds a shutdown waits for in-flight requests before cancelling them."
    ) { configuration, text throws(ConfigurationError) in
        configuration.shutdownGracePeriod = .seconds(try integer("shutdown-grace", text, in: 0...3_600))
    }

    public static let shutdownDrain = ConfigurationSetting(
        name: "shutdown-drain", defaultValue: "5",
        summary: "Seconds a stopping server answers 503 on /health/ready, serving all else, before it shuts down; 0 is off."
    ) { configuration, text throws(ConfigurationError) in
        configuration.shutdownDrainPeriod = .seconds(try integer("shutdown-drain", text, in: 0...600))
    }

    public static let rateLimit = ConfigurationSetting(
        name: "rate-limit", defaultValue: "100", summary: "Requests per second per client address; 0 turns limiting off."
    ) { configuration, text throws(ConfigurationError) in
        let rate = try integer("rate-limit", text, in: 0...1_000_000)
        if rate == 0 {
            configuration.rateLimit = nil
        } else {
            let burst = configuration.rateLimit?.burst ?? Double(rate * 2)
            configuration.rateLimit = .init(requestsPerSecond: Double(rate), burst: burst)
        }
    }

    public static let rateLimitBurst = ConfigurationSetting(
        name: "rate-limit-burst", defaultValue: "200", summary: "Requests a client may send at once before the rate applies."
    ) { configuration, text throws(ConfigurationError) in
        let burst = try integer("rate-limit-burst", text, in: 1...10_000_000)
        configuration.rateLimit?.burst = Double(burst)
    }

    public static let trustForwardedFor = ConfigurationSetting(
        name: "trust-forwarded-for", defaultValue: "false",
        summary: "Proxies whose X-Forwarded-For gives the client address: comma-separated addresses or CIDRs (10.0.0.0/8, ::1); true trusts any peer (only when nothing but the balancer reaches the server); false none."
    ) { configuration, text throws(ConfigurationError) in
        if let flag = try? boolean("trust-forwarded-for", text) {
            configuration.trustForwardedFor = flag ? .anyPeer : .nobody
        } else if let proxies = TrustedProxies(listing: text) {
            configuration.trustForwardedFor = proxies
        } else {
            throw invalid("trust-forwarded-for", text, "true or false, or comma-separated addresses or CIDRs such as 10.0.0.0/8, ::1")
        }
    }

    public static let corsOrigins = ConfigurationSetting(
        name: "cors-origins", defaultValue: "",
        summary: "Comma-separated browser origins allowed to call the API (https://shop.example.com), or *; empty is off."
    ) { configuration, text throws(ConfigurationError) in
        let origins = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for origin in origins where origin != "*" {
            // An origin is scheme://host[:port], nothing more: no path, no trailing slash.
            guard let url = URL(string: origin), let scheme = url.scheme, ["http", "https"].contains(scheme),
                url.host != nil, url.path.isEmpty, url.query == nil, url.fragment == nil
            else { throw invalid("cors-origins", origin, "origins such as https://shop.example.com, or *") }
        }
        configuration.corsOrigins = origins
    }

    public static let bcryptCost = ConfigurationSetting(
        name: "bcrypt-cost", defaultValue: "12", summary: "bcrypt work factor for password hashes (each step doubles the time)."
    ) { configuration, text throws(ConfigurationError) in
        configuration.bcryptCost = try integer("bcrypt-cost", text, in: 4...31)
    }

    public static let jwtKeyFile = ConfigurationSetting(
        name: "jwt-key-file", defaultValue: "",
        summary: "PEM Ed25519 private key that signs access tokens; generated beside an SQLite file when unset, required with PostgreSQL."
    ) { configuration, text throws(ConfigurationError) in
        configuration.jwtKeyFile = text.isEmpty ? nil : text
    }

    public static let tlsCertFile = ConfigurationSetting(
        name: "tls-cert-file", defaultValue: "",
        summary: "PEM certificate chain (the server's first, then intermediates); with --tls-key-file the server speaks HTTPS itself (TLS 1.2+, HTTP/2 and HTTP/1.1), unset is plain HTTP."
    ) { configuration, text throws(ConfigurationError) in
        configuration.tlsCertFile = text.isEmpty ? nil : text
    }

    public static let tlsKeyFile = ConfigurationSetting(
        name: "tls-key-file", defaultValue: "",
        summary: "PEM private key of --tls-cert-file's certificate, without a passphrase; both or neither."
    ) { configuration, text throws(ConfigurationError) in
        configuration.tlsKeyFile = text.isEmpty ? nil : text
    }

    public static let encryptionKeyFile = ConfigurationSetting(
        name: "encryption-key-file", defaultValue: "",
        summary: "Keys for personal data at rest, one 'ID BASE64' per line, the first encrypts; generated beside an SQLite file when unset, required with PostgreSQL."
    ) { configuration, text throws(ConfigurationError) in
        configuration.encryptionKeyFile = text.isEmpty ? nil : text
    }

    public static let mailFolder = ConfigurationSetting(
        name: "mail-folder", defaultValue: "mail", summary: "Folder where outgoing e-mail is written as .eml files."
    ) { configuration, text throws(ConfigurationError) in
        guard !text.isEmpty else { throw invalid("mail-folder", text, "a folder path") }
        configuration.mailFolder = text
    }

    public static let passwordResetURL = ConfigurationSetting(
        name: "password-reset-url", defaultValue: "http://localhost:3000/reset-password",
        summary: "Storefront page that finishes a password reset; reset e-mails link to it with ?token=."
    ) { configuration, text throws(ConfigurationError) in
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil, url.query == nil
        else { throw invalid("password-reset-url", text, "an http(s) URL without a query") }
        configuration.passwordResetURL = text
    }

    public static let orderURL = ConfigurationSetting(
        name: "order-url", defaultValue: "http://localhost:3000/orders",
        summary: "Storefront page that shows a guest their order; confirmation e-mails link to it with /<order id>?token=."
    ) { configuration, text throws(ConfigurationError) in
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil, url.query == nil
        else { throw invalid("order-url", text, "an http(s) URL without a query") }
        configuration.orderURL = text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    public static let sqliteReaders = ConfigurationSetting(
        name: "sqlite-readers", defaultValue: "4", summary: "Reader connections beside the single SQLite writer."
    ) { configuration, text throws(ConfigurationError) in
        configuration.sqliteReaders = try integer("sqlite-readers", text, in: 1...64)
    }

    public static let postgresPoolSize = ConfigurationSetting(
        name: "postgres-pool-size", defaultValue: "16", summary: "Most PostgreSQL connections this node opens."
    ) { configuration, text throws(ConfigurationError) in
        configuration.postgresPoolSize = try integer("postgres-pool-size", text, in: 1...1_000)
    }

    public static let catalogMaxAge = ConfigurationSetting(
        name: "catalog-max-age", defaultValue: "60",
        summary: "Seconds browsers and CDNs may reuse storefront catalog answers (Cache-Control max-age); 0 makes them revalidate."
    ) { configuration, text throws(ConfigurationError) in
        configuration.catalogMaxAge = try integer("catalog-max-age", text, in: 0...86_400)
    }

    public static let taxIncludedCurrencies = ConfigurationSetting(
        name: "tax-included-currencies", defaultValue: "",
        summary: "Comma-separated currencies whose prices include tax (e.g. EUR,GBP); tax is added on top in all others."
    ) { configuration, text throws(ConfigurationError) in
        let codes = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard codes.allSatisfy({ Currency(code: $0) != nil }) else {
            throw invalid("tax-included-currencies", text, "ISO 4217 codes separated by commas, e.g. EUR,GBP")
        }
        configuration.taxIncludedCurrencies = Set(codes)
    }

    public static let workers = ConfigurationSetting(
        name: "workers", defaultValue: "16",
        summary: "Background jobs (e-mail, webhooks, payment follow-ups, housekeeping) this process runs at once; 0 runs none, leaving them to emporium worker."
    ) { configuration, text throws(ConfigurationError) in
        configuration.workers = try integer("workers", text, in: 0...64)
    }

    public static let nodeID = ConfigurationSetting(
        name: "node-id", defaultValue: "",
        summary: "This node's name among nodes sharing a database (unique per node, the same across its restarts); unset is HOST:PORT."
    ) { configuration, text throws(ConfigurationError) in
        guard text.count <= 200, !text.contains(where: { $0.isWhitespace || $0 == "/" }) else {
            throw invalid("node-id", text, "a name without spaces or slashes")
        }
        configuration.nodeID = text
    }

    public static let eventRetention = ConfigurationSetting(
        name: "event-retention", defaultValue: "7",
        summary: "Days published events, finished jobs and webhook delivery logs are kept."
    ) { configuration, text throws(ConfigurationError) in
        configuration.eventRetention = .seconds(try integer("event-retention", text, in: 1...3650) * 86_400)
    }

    public static let guestCartRetention = ConfigurationSetting(
        name: "guest-cart-retention", defaultValue: "30",
        summary: "Days a guest cart nobody touches is kept before housekeeping deletes it."
    ) { configuration, text throws(ConfigurationError) in
        configuration.guestCartRetention = .seconds(try integer("guest-cart-retention", text, in: 1...3650) * 86_400)
    }

    public static let shopName = ConfigurationSetting(
        name: "shop-name", defaultValue: "Emporium", summary: "The shop's name in customer e-mail."
    ) { configuration, text throws(ConfigurationError) in
        guard (1...100).contains(text.count), !text.contains(where: \.isNewline) else {
            throw invalid("shop-name", text, "1 to 100 characters on one line")
        }
        configuration.shopName = text
    }

    public static let mailFrom = ConfigurationSetting(
        name: "mail-from", defaultValue: "Emporium <no-reply@emporium.invalid>", summary: "Sender of customer e-mail."
    ) { configuration, text throws(ConfigurationError) in
        guard text.contains("@"), text.count <= 200, !text.contains(where: \.isNewline) else {
            throw invalid("mail-from", text, "an address such as Shop <orders@shop.example>")
        }
        configuration.mailFrom = text
    }

    public static let smtpURL = ConfigurationSetting(
        name: "smtp-url", defaultValue: "",
        summary: "Send e-mail over SMTP: smtp://USER:PASSWORD@HOST:587 (STARTTLS required) or smtps://…:465 (TLS); query items starttls=off, ca_file=, timeout=. Unset writes .eml files to --mail-folder."
    ) { configuration, text throws(ConfigurationError) in
        if text.isEmpty {
            configuration.smtpURL = nil
            return
        }
        do {
            _ = try SMTPSettings(parsing: text)
        } catch {
            throw ConfigurationError(description: "invalid \(names("smtp-url")): \(error)")
        }
        configuration.smtpURL = text
    }

    public static let webhookAllowPrivateAddresses = ConfigurationSetting(
        name: "webhook-allow-private-addresses", defaultValue: "false",
        summary: "Allow webhook endpoints on loopback, private, link-local and metadata addresses and over plain http (tests and closed networks only)."
    ) { configuration, text throws(ConfigurationError) in
        configuration.webhookAllowPrivateAddresses = try boolean("webhook-allow-private-addresses", text)
    }

    public static let webhookTimeout = ConfigurationSetting(
        name: "webhook-timeout", defaultValue: "10",
        summary: "Seconds one webhook delivery may take (connect, send, answer) before it counts as failed and is retried."
    ) { configuration, text throws(ConfigurationError) in
        configuration.webhookTimeout = .seconds(try integer("webhook-timeout", text, in: 1...60))
    }

    public static let webhookDisableAfter = ConfigurationSetting(
        name: "webhook-disable-after", defaultValue: "120",
        summary: "Hours a webhook endpoint may fail without one success before it is disabled."
    ) { configuration, text throws(ConfigurationError) in
        configuration.webhookDisableAfter = .seconds(try integer("webhook-disable-after", text, in: 1...8760) * 3600)
    }

    public static let reservationTimeout = ConfigurationSetting(
        name: "reservation-timeout", defaultValue: "900",
        summary: "Seconds an order holds its stock while its payment is unconfirmed; then it is cancelled."
    ) { configuration, text throws(ConfigurationError) in
        configuration.reservationTimeout = .seconds(try integer("reservation-timeout", text, in: 10...86_400))
    }

    /// In the order they are applied: `rate-limit` before `rate-limit-burst`.
    public static let all: [ConfigurationSetting] = [
        .host, .port, .databaseURL, .databaseReadURL, .logFormat, .logLevel, .maxBodyBytes, .idleTimeout, .requestTimeout,
        .maxConnectionsPerAddress, .shutdownGrace, .shutdownDrain,
        .rateLimit, .rateLimitBurst, .trustForwardedFor, .corsOrigins, .bcryptCost, .jwtKeyFile, .tlsCertFile, .tlsKeyFile,
        .encryptionKeyFile,
        .mailFolder, .passwordResetURL, .orderURL, .sqliteReaders,
        .postgresPoolSize, .catalogMaxAge, .taxIncludedCurrencies, .paymentCapture, .testPayments, .reservationTimeout,
        .testPaymentsLedger, .stripeSecretKeyFile, .stripeAPIBase, .stripeWebhookSecretFile,
        .carrierAPIBase, .carrierAPIKeyFile, .carrierTimeout, .workers, .nodeID, .eventRetention, .guestCartRetention, .shopName, .mailFrom, .smtpURL,
        .webhookAllowPrivateAddresses, .webhookTimeout, .webhookDisableAfter,
        .otelEndpoint, .otelServiceName, .slowQueryThreshold,
    ]

    /// "--port (EMPORIUM_PORT)": how messages name a setting.
    private static func names(_ name: String) -> String { "--\(name) (\(environmentVariable(of: name)))" }

    static func invalid(_ name: String, _ text: String, _ expected: String) -> ConfigurationError {
        let shown = text.count > 64 ? String(text.prefix(64)) + "…" : text
        return ConfigurationError(description: "invalid value '\(shown)' for \(names(name)): expected \(expected)")
    }

    private static func integer(_ name: String, _ text: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let value = Int(text), range.contains(value) else {
            throw invalid(name, text, "a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    static func boolean(_ name: String, _ text: String) throws(ConfigurationError) -> Bool {
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw invalid(name, text, "true or false")
        }
    }
}
