import Foundation

/// The settings of the payment gateway and the shipping carrier; listed in
/// `ConfigurationSetting.all` with the others.
extension ConfigurationSetting {
    public static let paymentCapture = ConfigurationSetting(
        name: "payment-capture", defaultValue: "automatic",
        summary: "automatic (take the money when the payment is authorized) or manual (staff capture each order)."
    ) { configuration, text throws(ConfigurationError) in
        guard let capture = AppConfiguration.PaymentCapture(rawValue: text) else {
            throw invalid("payment-capture", text, "automatic or manual")
        }
        configuration.paymentCapture = capture
    }

    public static let testPayments = ConfigurationSetting(
        name: "test-payments", defaultValue: "",
        summary: "Offer the built-in test payment provider (tok_visa approves): true or false; unset offers it on SQLite only. Start-up warns whenever it is on."
    ) { configuration, text throws(ConfigurationError) in
        configuration.testPayments = text.isEmpty ? nil : try boolean("test-payments", text)
    }

    public static let testPaymentsLedger = ConfigurationSetting(
        name: "test-payments-ledger", defaultValue: "",
        summary: "File where the test payment provider records every call it answered, so that it remembers them across restarts; unset keeps them in memory."
    ) { configuration, text throws(ConfigurationError) in
        configuration.testPaymentsLedger = text.isEmpty ? nil : text
    }

    public static let stripeSecretKeyFile = ConfigurationSetting(
        name: "stripe-secret-key-file", defaultValue: "",
        summary: "File holding the Stripe secret key (sk_live_… or sk_test_…); set, it offers the stripe payment provider."
    ) { configuration, text throws(ConfigurationError) in
        configuration.stripeSecretKeyFile = text.isEmpty ? nil : text
    }

    public static let stripeAPIBase = ConfigurationSetting(
        name: "stripe-api-base", defaultValue: "https://api.stripe.com",
        summary: "Where the stripe provider sends its API calls (a Stripe-compatible server)."
    ) { configuration, text throws(ConfigurationError) in
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil, url.query == nil else {
            throw invalid("stripe-api-base", text, "an http(s) URL such as https://api.stripe.com")
        }
        configuration.stripeAPIBase = text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    public static let stripeWebhookSecretFile = ConfigurationSetting(
        name: "stripe-webhook-secret-file", defaultValue: "",
        summary: "File holding Stripe webhook signing secrets (whsec_…), one per line, for POST /v1/payments/webhooks/stripe; several during a rotation."
    ) { configuration, text throws(ConfigurationError) in
        configuration.stripeWebhookSecretFile = text.isEmpty ? nil : text
    }

    public static let carrierAPIBase = ConfigurationSetting(
        name: "carrier-api-base", defaultValue: "",
        summary: "Where the carrier adapter sends its rate and label calls (an http(s) URL); unset prices shipping with the shop's shipping methods only."
    ) { configuration, text throws(ConfigurationError) in
        guard !text.isEmpty else {
            configuration.carrierAPIBase = nil
            return
        }
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil, url.query == nil else {
            throw invalid("carrier-api-base", text, "an http(s) URL such as https://carrier.example")
        }
        configuration.carrierAPIBase = text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    public static let carrierAPIKeyFile = ConfigurationSetting(
        name: "carrier-api-key-file", defaultValue: "",
        summary: "File holding the carrier API key, needed with --carrier-api-base."
    ) { configuration, text throws(ConfigurationError) in
        configuration.carrierAPIKeyFile = text.isEmpty ? nil : text
    }

    public static let carrierTimeout = ConfigurationSetting(
        name: "carrier-timeout", defaultValue: "3",
        summary: "Seconds one carrier call may take (0.1 to 30); a slower carrier is left out and the shipping methods answer alone."
    ) { configuration, text throws(ConfigurationError) in
        guard let seconds = Double(text), (0.1...30).contains(seconds) else {
            throw invalid("carrier-timeout", text, "seconds from 0.1 to 30")
        }
        configuration.carrierTimeout = .milliseconds(Int64((seconds * 1000).rounded()))
    }
}
