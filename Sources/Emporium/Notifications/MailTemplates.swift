import Foundation
import Mustache

/// The customer e-mails, each a plain-text and an HTML Mustache template. HTML templates
/// escape every value (Mustache's `{{name}}`); text templates switch escaping off with the
/// `CONTENT_TYPE: TEXT` pragma.
struct MailTemplates: Sendable {
    struct Rendered: Sendable {
        let subject: String
        let text: String
        let html: String
    }

    private let library: MustacheLibrary

    init() throws {
        var library = MustacheLibrary()
        for (name, source) in Self.sources {
            try library.register(source, named: name)
        }
        self.library = library
    }

    /// Renders `name`'s subject, text and HTML with `values`.
    func render(_ name: String, _ values: [String: Any]) throws -> Rendered {
        guard let subject = library.render(values, withTemplate: name + ".subject")?.trimmingCharacters(in: .whitespacesAndNewlines)
        else { throw MailerError(description: "no mail template named \(name)") }
        var values = values
        values["subject"] = subject
        guard let text = library.render(values, withTemplate: name + ".text"),
            let html = library.render(values, withTemplate: name + ".html")
        else { throw MailerError(description: "no mail template named \(name)") }
        return Rendered(subject: subject, text: text, html: html)
    }

    private static let textPragma = "{{% CONTENT_TYPE: TEXT }}"

    private static let htmlHead = """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>{{subject}}</title></head>
        <body style="font-family: sans-serif; color: #222; max-width: 36em;">
        """

    private static let linesText = """
        {{#lines}}
          {{quantity}} × {{title}} ({{sku}})  {{amount}}
        {{/lines}}
        """

    private static let linesHTML = """
        <table style="border-collapse: collapse;">
        {{#lines}}
        <tr><td>{{quantity}} ×</td><td>{{title}} <small>({{sku}})</small></td><td style="text-align: right;">{{amount}}</td></tr>
        {{/lines}}
        </table>
        """

    private static let totalsText = """
        Subtotal: {{subtotal}}
        {{#discount}}Discount: −{{discount}}
        {{/discount}}Shipping ({{shipping_method}}): {{shipping}}
        Tax{{#tax_included}} (included){{/tax_included}}: {{tax}}
        Total: {{total}}
        """

    private static let totalsHTML = """
        <p>Subtotal: {{subtotal}}<br>
        {{#discount}}Discount: −{{discount}}<br>{{/discount}}
        Shipping ({{shipping_method}}): {{shipping}}<br>
        Tax{{#tax_included}} (included){{/tax_included}}: {{tax}}<br>
        <strong>Total: {{total}}</strong></p>
        """

    static let sources: [(String, String)] = [
        ("order_confirmation.subject", "\(textPragma){{shop}}: order {{number}} confirmed"),
        ("order_confirmation.text", """
            \(textPragma)Hello {{recipient}},

            thank you for your order {{number}} at {{shop}}. We are getting it ready.

            \(linesText)

            \(totalsText)

            Shipping to:
            {{recipient}}
            {{city}} {{postal_code}}
            {{country}}
            {{#order_link}}

            See your order at any time:
            {{order_link}}
            {{/order_link}}

            {{shop}}
            """),
        ("order_confirmation.html", """
            \(htmlHead)
            <p>Hello {{recipient}},</p>
            <p>thank you for your order <strong>{{number}}</strong> at {{shop}}. We are getting it ready.</p>
            \(linesHTML)
            \(totalsHTML)
            <p>Shipping to: {{recipient}}, {{city}} {{postal_code}}, {{country}}</p>
            {{#order_link}}<p><a href="{{order_link}}">See your order</a> at any time.</p>{{/order_link}}
            <p>{{shop}}</p>
            </body></html>
            """),
        ("payment_failed.subject", "\(textPragma){{shop}}: the payment for order {{number}} did not go through"),
        ("payment_failed.text", """
            \(textPragma)Hello {{recipient}},

            the payment of {{total}} for your order {{number}} at {{shop}} was declined ({{reason}}).
            Nothing was charged. Your cart is still there: check out again with another means of payment.

            {{shop}}
            """),
        ("payment_failed.html", """
            \(htmlHead)
            <p>Hello {{recipient}},</p>
            <p>the payment of <strong>{{total}}</strong> for your order {{number}} at {{shop}} was declined ({{reason}}).
            Nothing was charged. Your cart is still there: check out again with another means of payment.</p>
            <p>{{shop}}</p>
            </body></html>
            """),
        ("shipping_confirmation.subject", "\(textPragma){{shop}}: order {{number}} has shipped"),
        ("shipping_confirmation.text", """
            \(textPragma)Hello {{recipient}},

            {{#complete}}your order {{number}} is on its way.{{/complete}}{{^complete}}part of your order {{number}} is on its way; the rest follows.{{/complete}}
            {{#carrier}}Carrier: {{carrier}}
            {{/carrier}}{{#tracking_number}}Tracking number: {{tracking_number}}
            {{/tracking_number}}
            \(linesText)

            {{shop}}
            """),
        ("shipping_confirmation.html", """
            \(htmlHead)
            <p>Hello {{recipient}},</p>
            <p>{{#complete}}your order <strong>{{number}}</strong> is on its way.{{/complete}}{{^complete}}part of your order <strong>{{number}}</strong> is on its way; the rest follows.{{/complete}}</p>
            {{#carrier}}<p>Carrier: {{carrier}}</p>{{/carrier}}
            {{#tracking_number}}<p>Tracking number: <strong>{{tracking_number}}</strong></p>{{/tracking_number}}
            \(linesHTML)
            <p>{{shop}}</p>
            </body></html>
            """),
        ("password_reset.subject", "\(textPragma)Reset your password"),
        ("password_reset.text", """
            \(textPragma)Hello {{name}},

            someone asked to reset the password of your {{shop}} account. If it was you, open this link within 30 minutes:

            {{link}}

            If it was not you, ignore this message; your password stays as it is.
            """),
        ("password_reset.html", """
            \(htmlHead)
            <p>Hello {{name}},</p>
            <p>someone asked to reset the password of your {{shop}} account. If it was you, open this link within 30 minutes:</p>
            <p><a href="{{link}}">Choose a new password</a></p>
            <p>If it was not you, ignore this message; your password stays as it is.</p>
            </body></html>
            """),
    ]
}
