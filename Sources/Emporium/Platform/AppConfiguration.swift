public import EmporiumStorage
public import Logging
import Foundation

/// Everything an operator can set, with the defaults `swift run emporium` uses.
/// The command line fills it from flags and `EMPORIUM_*` variables; tests build it directly.
public struct AppConfiguration: Sendable {
    public static let defaultMaxBodyBytes = 1 << 20

    public var host = "127.0.0.1"
    public var port = 8080
    public var databaseURL: DatabaseURL = .sqliteFile(path: "emporium.sqlite")
    /// A PostgreSQL replica for storefront catalog reads and reports; nil reads everything
    /// from `databaseURL`.
    public var databaseReadURL: DatabaseURL?
    /// Reader connections beside the single writer, for a SQLite file.
    public var sqliteReaders = 4
    /// Largest PostgreSQL pool size.
    public var postgresPoolSize = 16
    public var logFormat: LogFormat = .text
    public var logLevel: Logger.Level = .info
    /// Request bodies larger than this are refused with 413.
    public var maxBodyBytes = defaultMaxBodyBytes
    /// A connection that sends nothing for this long is closed (slow or idle clients).
    public var idleTimeout: Duration = .seconds(60)
    /// Time a client has to send a whole request (headers and body); nil for no limit.
    public var requestTimeout: Duration? = .seconds(30)
    /// Connections one client address may hold at once; nil for no limit.
    public var maxConnectionsPerAddress: Int? = 256
    /// How long a shutdown waits for in-flight requests before it cancels them.
    public var shutdownGracePeriod: Duration = .seconds(30)
    /// How long a stopping server keeps serving while `/health/ready` says 503, so that
    /// load balancers take it out of rotation before it closes connections; zero skips it.
    public var shutdownDrainPeriod: Duration = .seconds(5)
    /// Requests per second each client address may make; `nil` turns limiting off.
    public var rateLimit: RateLimit? = RateLimit(requestsPerSecond: 100, burst: 200)
    /// Whose `X-Forwarded-For` gives the client's address: nobody's, any peer's (only when
    /// nothing but the balancer reaches the server), or the listed proxies'.
    public var trustForwardedFor: TrustedProxies = .nobody
    /// Browser origins allowed to call the API (`https://shop.example.com`), or `*` for any;
    /// empty turns CORS off.
    public var corsOrigins: [String] = []
    /// bcrypt work factor for password hashes (each step doubles the time).
    public var bcryptCost = 12
    /// PEM file with the Ed25519 key that signs access tokens; beside an SQLite file it is
    /// generated when absent, with PostgreSQL it is required.
    public var jwtKeyFile: String?
    /// PEM certificate chain and its private key: both set, the server speaks HTTPS itself.
    public var tlsCertFile: String?
    public var tlsKeyFile: String?
    /// Key file for personal data encrypted at rest (`ID BASE64` per line, first encrypts);
    /// beside an SQLite file it is generated when absent, with PostgreSQL it is required.
    public var encryptionKeyFile: String?
    /// Folder where the built-in mailer writes `.eml` files.
    public var mailFolder = "mail"
    /// The storefront page that finishes a password reset; the token is appended as `?token=`.
    public var passwordResetURL = "http://localhost:3000/reset-password"
    /// The storefront page that shows a guest their order; confirmations link to
    /// `<order-url>/<order id>?token=<access token>`.
    public var orderURL = "http://localhost:3000/orders"
    /// Seconds shared caches may reuse storefront catalog answers.
    public var catalogMaxAge = 60
    /// Currencies whose prices include tax (VAT-style shops); elsewhere tax is added at checkout.
    public var taxIncludedCurrencies: Set<String> = []
    /// Capture payments as soon as they are authorized, or leave that to staff.
    public var paymentCapture: PaymentCapture = .automatic
    /// Offer the built-in `test` payment provider; `nil` offers it on SQLite (the embedded
    /// demo) and not on PostgreSQL.
    public var testPayments: Bool?
    /// A file where the test provider keeps what it did, so that it remembers across restarts
    /// (the crash test reads it); unset keeps it in memory.
    public var testPaymentsLedger: String?
    /// The file with the Stripe secret key; set, the `stripe` provider is offered.
    public var stripeSecretKeyFile: String?
    /// Where the `stripe` provider sends its calls, without a trailing slash.
    public var stripeAPIBase = "https://api.stripe.com"
    /// The file with Stripe's webhook signing secrets, one per line.
    public var stripeWebhookSecretFile: String?
    /// Where the carrier adapter sends its calls, without a trailing slash; nil prices
    /// shipping with the table rates only.
    public var carrierAPIBase: String?
    /// The file with the carrier API key.
    public var carrierAPIKeyFile: String?
    /// How long one carrier call may take before the table rates answer alone.
    public var carrierTimeout: Duration = .seconds(3)
    /// Failed carrier calls in a row that open the breaker, and how long it stays open.
    public var carrierBreakerFailures = 5
    public var carrierBreakerCoolDown: Duration = .seconds(30)
    /// Background jobs this process runs at once; 0 runs none (another process runs
    /// `emporium worker`).
    public var workers = 16
    /// This node's name among the nodes sharing a database (claims and job leases carry it);
    /// empty means `HOST:PORT`.
    public var nodeID = ""
    /// How long published events, finished jobs and webhook delivery logs are kept.
    public var eventRetention: Duration = .seconds(7 * 24 * 3600)
    /// How long a guest cart nobody touches is kept.
    public var guestCartRetention: Duration = .seconds(30 * 24 * 3600)
    /// The shop's name in customer e-mail.
    public var shopName = "Emporium"
    /// The sender of customer e-mail.
    public var mailFrom = "Emporium <no-reply@emporium.invalid>"
    /// Send e-mail over SMTP (`smtp://…` or `smtps://…`); unset writes `.eml` files into
    /// `mailFolder`.
    public var smtpURL: String?
    /// Allow webhook endpoints on loopback, private, link-local and metadata addresses and
    /// over plain http (tests and closed networks only).
    public var webhookAllowPrivateAddresses = false
    /// How long one webhook delivery may take.
    public var webhookTimeout: Duration = .seconds(10)
    /// A webhook endpoint that has failed for this long without a success is disabled.
    public var webhookDisableAfter: Duration = .seconds(5 * 24 * 3600)
    /// The OTLP/HTTP collector traces go to; `nil` turns tracing off.
    public var otelEndpoint: String?
    /// The `service.name` of this deployment's spans.
    public var otelServiceName = "emporium"
    /// Statements slower than this are logged by name and duration; `nil` turns that off.
    public var slowQueryThreshold: Duration? = .milliseconds(200)

    /// Whether the built-in test provider is offered, after the engine-dependent default.
    public var testPaymentsEnabled: Bool {
        if let testPayments { return testPayments }
        if case .postgres = databaseURL { return false }
        return true
    }

    /// `nodeID`, or `HOST:PORT` when unset (`HOST:worker` for `emporium worker`, which sets
    /// `isWorker`, so that a worker beside a server on one host never frees the server's jobs).
    public var effectiveNodeID: String {
        guard nodeID.isEmpty else { return nodeID }
        return "\(ProcessInfo.processInfo.hostName):\(isWorker ? "worker" : String(port))"
    }

    /// Set by `emporium worker`: this process runs background work only.
    public var isWorker = false
    /// How long an order may wait for its payment before its stock is released.
    public var reservationTimeout: Duration = .seconds(900)

    public enum PaymentCapture: String, Sendable, CaseIterable {
        case automatic
        case manual
    }

    public init() {}

    public enum LogFormat: String, Sendable, CaseIterable {
        case text
        case json
    }

    public struct RateLimit: Sendable, Equatable {
        public var requestsPerSecond: Double
        public var burst: Double

        public init(requestsPerSecond: Double, burst: Double) {
            self.requestsPerSecond = requestsPerSecond
            self.burst = burst
        }
    }
}

extension AppConfiguration {
    /// The configuration from flags given on the command line (by setting name) and the
    /// environment; a flag wins over its variable, which wins over the default.
    public init(flags: [String: String], environment: [String: String]) throws(ConfigurationError) {
        self.init()
        for setting in ConfigurationSetting.all {
            if let text = flags[setting.name] ?? environment[setting.environmentVariable] {
                try setting.apply(&self, text)
            }
        }
    }
}
