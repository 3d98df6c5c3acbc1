import Logging

/// The mail transport the configuration names (SMTP, else `.eml` files), unless the embedding
/// program gave one, behind the templates.
func makeMailSender(
    _ configuration: AppConfiguration, dependencies: AppDependencies, metrics: AppMetrics, logger: Logger
) throws -> MailSender {
    let mailer: any Mailer
    if let given = dependencies.mailer {
        mailer = given
    } else if let url = configuration.smtpURL {
        mailer = SMTPMailer(settings: try SMTPSettings(parsing: url), sender: configuration.mailFrom, logger: logger)
    } else {
        mailer = FileMailer(
            folder: configuration.mailFolder, sender: configuration.mailFrom, clock: dependencies.clock, ids: dependencies.ids)
    }
    let domain = configuration.mailFrom.split(separator: "@").last.map { String($0.prefix { $0 != ">" && $0 != " " }) }
    return MailSender(
        templates: try MailTemplates(), mailer: mailer, shopName: configuration.shopName,
        messageDomain: domain.flatMap { $0.isEmpty ? nil : $0 } ?? "emporium.invalid", metrics: metrics)
}
