import ArgumentParser
import Emporium
import Foundation

/// Settings given as flags, by the `ConfigurationSetting` each one fills. Every command
/// includes the groups of the settings it uses, so that its `--help` lists those and no more.
protocol SettingFlags {
    var given: [(ConfigurationSetting, String?)] { get }
}

/// Where the database is and how the command logs: what every command takes.
struct DatabaseOptions: ParsableArguments, SettingFlags {
    @Option(help: .init(ConfigurationSetting.databaseURL.help)) var databaseUrl: String?
    @Option(help: .init(ConfigurationSetting.sqliteReaders.help)) var sqliteReaders: String?
    @Option(help: .init(ConfigurationSetting.postgresPoolSize.help)) var postgresPoolSize: String?
    @Option(help: .init(ConfigurationSetting.logFormat.help)) var logFormat: String?
    @Option(help: .init(ConfigurationSetting.logLevel.help)) var logLevel: String?
    @Option(help: .init(ConfigurationSetting.slowQueryThreshold.help)) var slowQueryThreshold: String?
    @Option(help: .init(ConfigurationSetting.otelEndpoint.help)) var otelEndpoint: String?
    @Option(help: .init(ConfigurationSetting.otelServiceName.help)) var otelServiceName: String?

    var given: [(ConfigurationSetting, String?)] {
        [
            (.databaseURL, databaseUrl), (.sqliteReaders, sqliteReaders), (.postgresPoolSize, postgresPoolSize),
            (.logFormat, logFormat), (.logLevel, logLevel),
            (.slowQueryThreshold, slowQueryThreshold), (.otelEndpoint, otelEndpoint), (.otelServiceName, otelServiceName),
        ]
    }

    /// The configuration from these flags, the `EMPORIUM_*` variables and `others`, or the
    /// one-line failure that names the unusable setting.
    func configuration(_ others: any SettingFlags...) throws(ExitCode) -> AppConfiguration {
        let pairs = ([self] + others).flatMap(\.given)
        let flags = Dictionary(uniqueKeysWithValues: pairs.compactMap { setting, value in value.map { (setting.name, $0) } })
        do {
            return try AppConfiguration(flags: flags, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw fail(error.description)
        }
    }
}

/// The HTTP side of a server: where it listens, what it accepts, and its token signing key.
struct HTTPOptions: ParsableArguments, SettingFlags {
    @Option(help: .init(ConfigurationSetting.host.help)) var host: String?
    @Option(help: .init(ConfigurationSetting.port.help)) var port: String?
    @Option(help: .init(ConfigurationSetting.maxBodyBytes.help)) var maxBodyBytes: String?
    @Option(help: .init(ConfigurationSetting.idleTimeout.help)) var idleTimeout: String?
    @Option(help: .init(ConfigurationSetting.requestTimeout.help)) var requestTimeout: String?
    @Option(help: .init(ConfigurationSetting.maxConnectionsPerAddress.help)) var maxConnectionsPerAddress: String?
    @Option(help: .init(ConfigurationSetting.rateLimit.help)) var rateLimit: String?
    @Option(help: .init(ConfigurationSetting.rateLimitBurst.help)) var rateLimitBurst: String?
    @Option(help: .init(ConfigurationSetting.trustForwardedFor.help)) var trustForwardedFor: String?
    @Option(help: .init(ConfigurationSetting.corsOrigins.help)) var corsOrigins: String?
    @Option(help: .init(ConfigurationSetting.catalogMaxAge.help)) var catalogMaxAge: String?
    @Option(help: .init(ConfigurationSetting.jwtKeyFile.help)) var jwtKeyFile: String?
    @Option(help: .init(ConfigurationSetting.tlsCertFile.help)) var tlsCertFile: String?
    @Option(help: .init(ConfigurationSetting.tlsKeyFile.help)) var tlsKeyFile: String?
    @Option(help: .init(ConfigurationSetting.shutdownDrain.help)) var shutdownDrain: String?
    @Option(help: .init(ConfigurationSetting.databaseReadURL.help)) var databaseReadUrl: String?

    var given: [(ConfigurationSetting, String?)] {
        [
            (.host, host), (.port, port), (.maxBodyBytes, maxBodyBytes), (.idleTimeout, idleTimeout),
            (.requestTimeout, requestTimeout), (.maxConnectionsPerAddress, maxConnectionsPerAddress),
            (.rateLimit, rateLimit), (.rateLimitBurst, rateLimitBurst), (.trustForwardedFor, trustForwardedFor),
            (.corsOrigins, corsOrigins), (.catalogMaxAge, catalogMaxAge), (.jwtKeyFile, jwtKeyFile),
            (.tlsCertFile, tlsCertFile), (.tlsKeyFile, tlsKeyFile),
            (.shutdownDrain, shutdownDrain), (.databaseReadURL, databaseReadUrl),
        ]
    }
}

/// What the shop's own work uses, in requests and in background jobs alike: keys, e-mail,
/// payments, stock reservations, jobs, webhooks and retention.
struct ShopOptions: ParsableArguments, SettingFlags {
    @Option(help: .init(ConfigurationSetting.shutdownGrace.help)) var shutdownGrace: String?
    @Option(help: .init(ConfigurationSetting.bcryptCost.help)) var bcryptCost: String?
    @Option(help: .init(ConfigurationSetting.encryptionKeyFile.help)) var encryptionKeyFile: String?
    @Option(help: .init(ConfigurationSetting.mailFolder.help)) var mailFolder: String?
    @Option(help: .init(ConfigurationSetting.passwordResetURL.help)) var passwordResetUrl: String?
    @Option(help: .init(ConfigurationSetting.orderURL.help)) var orderUrl: String?
    @Option(help: .init(ConfigurationSetting.taxIncludedCurrencies.help)) var taxIncludedCurrencies: String?
    @Option(help: .init(ConfigurationSetting.paymentCapture.help)) var paymentCapture: String?
    @Option(help: .init(ConfigurationSetting.testPayments.help)) var testPayments: String?
    @Option(help: .init(ConfigurationSetting.reservationTimeout.help)) var reservationTimeout: String?
    @Option(help: .init(ConfigurationSetting.testPaymentsLedger.help)) var testPaymentsLedger: String?
    @Option(help: .init(ConfigurationSetting.stripeSecretKeyFile.help)) var stripeSecretKeyFile: String?
    @Option(help: .init(ConfigurationSetting.stripeAPIBase.help)) var stripeApiBase: String?
    @Option(help: .init(ConfigurationSetting.stripeWebhookSecretFile.help)) var stripeWebhookSecretFile: String?
    @Option(help: .init(ConfigurationSetting.carrierAPIBase.help)) var carrierApiBase: String?
    @Option(help: .init(ConfigurationSetting.carrierAPIKeyFile.help)) var carrierApiKeyFile: String?
    @Option(help: .init(ConfigurationSetting.carrierTimeout.help)) var carrierTimeout: String?
    @Option(help: .init(ConfigurationSetting.workers.help)) var workers: String?
    @Option(help: .init(ConfigurationSetting.nodeID.help)) var nodeId: String?
    @Option(help: .init(ConfigurationSetting.eventRetention.help)) var eventRetention: String?
    @Option(help: .init(ConfigurationSetting.guestCartRetention.help)) var guestCartRetention: String?
    @Option(help: .init(ConfigurationSetting.shopName.help)) var shopName: String?
    @Option(help: .init(ConfigurationSetting.mailFrom.help)) var mailFrom: String?
    @Option(help: .init(ConfigurationSetting.smtpURL.help)) var smtpUrl: String?
    @Option(help: .init(ConfigurationSetting.webhookAllowPrivateAddresses.help)) var webhookAllowPrivateAddresses: String?
    @Option(help: .init(ConfigurationSetting.webhookTimeout.help)) var webhookTimeout: String?
    @Option(help: .init(ConfigurationSetting.webhookDisableAfter.help)) var webhookDisableAfter: String?

    var given: [(ConfigurationSetting, String?)] {
        [
            (.shutdownGrace, shutdownGrace), (.bcryptCost, bcryptCost), (.encryptionKeyFile, encryptionKeyFile),
            (.mailFolder, mailFolder), (.passwordResetURL, passwordResetUrl), (.orderURL, orderUrl),
            (.taxIncludedCurrencies, taxIncludedCurrencies),
            (.paymentCapture, paymentCapture), (.testPayments, testPayments), (.reservationTimeout, reservationTimeout),
            (.testPaymentsLedger, testPaymentsLedger), (.stripeSecretKeyFile, stripeSecretKeyFile),
            (.stripeAPIBase, stripeApiBase), (.stripeWebhookSecretFile, stripeWebhookSecretFile),
            (.carrierAPIBase, carrierApiBase), (.carrierAPIKeyFile, carrierApiKeyFile), (.carrierTimeout, carrierTimeout),
            (.workers, workers), (.nodeID, nodeId),
            (.eventRetention, eventRetention), (.guestCartRetention, guestCartRetention), (.shopName, shopName),
            (.mailFrom, mailFrom), (.smtpURL, smtpUrl), (.webhookAllowPrivateAddresses, webhookAllowPrivateAddresses),
            (.webhookTimeout, webhookTimeout), (.webhookDisableAfter, webhookDisableAfter),
        ]
    }
}

/// Every setting: what `serve` takes.
struct ServerOptions: ParsableArguments {
    @OptionGroup(title: "Database and logging") var database: DatabaseOptions
    @OptionGroup(title: "HTTP") var http: HTTPOptions
    @OptionGroup(title: "Shop and background work") var shop: ShopOptions

    /// The configuration, or the one-line failure that names the unusable setting.
    func configuration() throws(ExitCode) -> AppConfiguration {
        try database.configuration(http, shop)
    }
}

/// The encryption key file alone, for commands that seal or open personal data.
struct EncryptionKeyOption: ParsableArguments, SettingFlags {
    @Option(help: .init(ConfigurationSetting.encryptionKeyFile.help)) var encryptionKeyFile: String?

    var given: [(ConfigurationSetting, String?)] { [(.encryptionKeyFile, encryptionKeyFile)] }
}

/// The bcrypt cost alone, for commands that hash a password.
struct BcryptCostOption: ParsableArguments, SettingFlags {
    @Option(help: .init(ConfigurationSetting.bcryptCost.help)) var bcryptCost: String?

    var given: [(ConfigurationSetting, String?)] { [(.bcryptCost, bcryptCost)] }
}

extension ConfigurationSetting {
    var help: String { "\(summary) [\(environmentVariable), default \(defaultValue)]" }
}
