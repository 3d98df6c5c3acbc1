import EmporiumCore
import Foundation
import CoreMetrics
import Logging

/// Renders a template and hands the message to the transport; what every mail job calls.
struct MailSender: Sendable {
    let templates: MailTemplates
    let mailer: any Mailer
    /// The shop's name as customers know it, in every message.
    let shopName: String
    /// The domain of `Message-ID`s.
    let messageDomain: String
    let metrics: AppMetrics

    /// Sends `template` to `to`. The Message-ID is made from `key` (an event id), so a message
    /// sent again by a retried job is recognisably the same message.
    func send(_ template: String, to: String, key: String, values: [String: Any]) async throws {
        var values = values
        values["shop"] = shopName
        let rendered = try templates.render(template, values)
        do {
            try await mailer.send(MailMessage(
                to: to, subject: rendered.subject, text: rendered.text, html: rendered.html,
                messageID: "\(key)@\(messageDomain)"))
            metrics.counter("emporium_mail_total", [("template", template), ("outcome", "sent")]).increment()
        } catch {
            metrics.counter("emporium_mail_total", [("template", template), ("outcome", "failed")]).increment()
            if let smtp = error as? SMTPError, smtp.isPermanent {
                throw JobFailure.permanent("the mail server refused the message for good: \(smtp)")
            }
            throw JobFailure.retry("sending mail failed: \(error)")
        }
    }

    static func amount(_ minorUnits: Int64, _ currency: Currency) -> String {
        Money(minorUnits: minorUnits, currency: currency).description
    }
}
