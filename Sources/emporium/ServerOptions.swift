import ArgumentParser
import Emporium

/// The settings shared by the commands, one option per entry of `ConfigurationSetting.all`.
struct ServerOptions: ParsableArguments {
    @Option(help: .init(ConfigurationSetting.host.help)) var host: String?
    @Option(help: .init(ConfigurationSetting.port.help)) var port: String?
    @Option(help: .init(ConfigurationSetting.databaseURL.help)) var databaseUrl: String?
    @Option(help: .init(ConfigurationSetting.logFormat.help)) var logFormat: String?
    @Option(help: .init(ConfigurationSetting.logLevel.help)) var logLevel: String?
    @Option(help: .init(ConfigurationSetting.maxBodyBytes.help)) var maxBodyBytes: String?
    @Option(help: .init(ConfigurationSetting.idleTimeout.help)) var idleTimeout: String?
    @Option(help: .init(ConfigurationSetting.shutdownGrace.help)) var shutdownGrace: String?
    @Option(help: .init(ConfigurationSetting.rateLimit.help)) var rateLimit: String?
    @Option(help: .init(ConfigurationSetting.rateLimitBurst.help)) var rateLimitBurst: String?
    @Option(help: .init(ConfigurationSetting.trustForwardedFor.help)) var trustForwardedFor: String?
    @Option(help: .init(ConfigurationSetting.corsOrigins.help)) var corsOrigins: String?
    @Option(help: .init(ConfigurationSetting.bcryptCost.help)) var bcryptCost: String?
    @Option(help: .init(ConfigurationSetting.jwtKeyFile.help)) var jwtKeyFile: String?
    @Option(help: .init(ConfigurationSetting.encryptionKeyFile.help)) var encryptionKeyFile: String?
    @Option(help: .init(ConfigurationSetting.mailFolder.help)) var mailFolder: String?
    @Option(help: .init(ConfigurationSetting.passwordResetURL.help)) var passwordResetUrl: String?
    @Option(help: .init(ConfigurationSetting.orderURL.help)) var orderUrl: String?
    @Option(help: .init(ConfigurationSetting.sqliteReaders.help)) var sqliteReaders: String?
    @Option(help: .init(ConfigurationSetting.postgresPoolSize.help)) var postgresPoolSize: String?
    @Option(help: .init(ConfigurationSetting.catalogMaxAge.help)) var catalogMaxAge: String?
    @Option(help: .init(ConfigurationSetting.taxIncludedCurrencies.help)) var taxIncludedCurrencies: String?
    @Option(help: .init(ConfigurationSetting.paymentCapture.help)) var paymentCapture: String?
    @Option(help: .init(ConfigurationSetting.testPayments.help)) var testPayments: String?
    @Option(help: .init(ConfigurationSetting.reservationTimeout.help)) var reservationTimeout: String?
    @Option(help: .init(ConfigurationSetting.testPaymentsLedger.help)) var testPaymentsLedger: String?
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

    /// The flags that were given, by setting name.
    var flags: [String: String] {
        let given: [(ConfigurationSetting, String?)] = [
            (.host, host), (.port, port), (.databaseURL, databaseUrl), (.logFormat, logFormat),
            (.logLevel, logLevel), (.maxBodyBytes, maxBodyBytes), (.idleTimeout, idleTimeout),
            (.shutdownGrace, shutdownGrace), (.rateLimit, rateLimit), (.rateLimitBurst, rateLimitBurst),
            (.trustForwardedFor, trustForwardedFor), (.corsOrigins, corsOrigins), (.bcryptCost, bcryptCost),
            (.jwtKeyFile, jwtKeyFile), (.encryptionKeyFile, encryptionKeyFile),
            (.mailFolder, mailFolder), (.passwordResetURL, passwordResetUrl), (.orderURL, orderUrl), (.sqliteReaders, sqliteReaders),
            (.postgresPoolSize, postgresPoolSize), (.catalogMaxAge, catalogMaxAge),
            (.taxIncludedCurrencies, taxIncludedCurrencies), (.paymentCapture, paymentCapture), (.testPayments, testPayments),
            (.reservationTimeout, reservationTimeout), (.testPaymentsLedger, testPaymentsLedger), (.workers, workers), (.nodeID, nodeId),
            (.eventRetention, eventRetention), (.guestCartRetention, guestCartRetention), (.shopName, shopName),
            (.mailFrom, mailFrom), (.smtpURL, smtpUrl), (.webhookAllowPrivateAddresses, webhookAllowPrivateAddresses),
            (.webhookTimeout, webhookTimeout), (.webhookDisableAfter, webhookDisableAfter),
        ]
        return Dictionary(uniqueKeysWithValues: given.compactMap { setting, value in value.map { (setting.name, $0) } })
    }

    /// The configuration, or the one-line failure that names the unusable setting.
    func configuration() throws(ExitCode) -> AppConfiguration {
        do {
            return try AppConfiguration(flags: flags, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw fail(error.description)
        }
    }
}

extension ConfigurationSetting {
    var help: String { "\(summary) [\(environmentVariable), default \(defaultValue)]" }
}

import Foundation
