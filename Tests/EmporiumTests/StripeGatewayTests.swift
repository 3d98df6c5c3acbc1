import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing

/// The `stripe` provider and Stripe's webhooks against a local server that speaks Stripe's
/// API (`StripeDouble`): money moves once, whatever fails or arrives in whatever order.
@Suite struct StripeGatewayTests {
    /// An application whose `stripe` provider and webhook route talk to a fresh Stripe double.
    /// With `configuredProvider` the provider is the one the settings make (real time-outs);
    /// otherwise one whose calls time out after `timeout` seconds (short where a test makes
    /// Stripe hang; long enough elsewhere for a loaded machine).
    func withStripe(
        capture: AppConfiguration.PaymentCapture = .automatic, configuredProvider: Bool = false, timeout: TimeInterval = 15,
        _ test: @escaping @Sendable (TestApp, StripeDouble) async throws -> Void
    ) async throws {
        try await StripeDouble.run { double in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("stripe-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let keyFile = folder.appendingPathComponent("secret-key").path
            let webhookFile = folder.appendingPathComponent("webhook-secrets").path
            try "\(StripeDouble.secretKey)\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
            try "whsec_old_rotated_out\n\(StripeDouble.webhookSecret)\n".write(toFile: webhookFile, atomically: true, encoding: .utf8)
            let providers: [any PaymentProvider] = configuredProvider ? [] : [
                StripeProvider(base: double.url, secretKey: StripeDouble.secretKey, timeout: timeout, logger: Logger(label: "stripe-test"))
            ]
            try await withApp(configure: { configuration in
                configuration.testPayments = false
                configuration.paymentCapture = capture
                configuration.stripeSecretKeyFile = keyFile
                configuration.stripeAPIBase = double.url
                configuration.stripeWebhookSecretFile = webhookFile
            }, paymentProviders: providers) { app in
                double.now.withLock { $0 = { app.clock.now() } }
                double.deliver.withLock { deliver in
                    deliver = { body, signature in
                        try await app.stripeWebhook(body, signature: signature).status.code
                    }
                }
                try await test(app, double)
            }
        }
    }

    @Test func anAuthorizedPaymentIsCapturedAndPartlyRefunded() async throws {
        try await withStripe(capture: .manual, configuredProvider: true) { app, double in
            let fixture = try await CommerceFixture(app)
            let cart = try await app.readyCart(fixture, quantity: 2)
            let placed = try await app.stripeCheckout(cart, method: "pm_card_visa")
            #expect(placed.status == .created, "\(placed.text)")
            let order = try placed.jsonObject()
            #expect(order["status"] as? String == "authorized")
            let id = try #require(order["id"] as? String)
            let total = try #require((order["totals"] as? [String: Any])?["total"] as? Int)
            let intent = try #require(double.intents.first)
            #expect(double.intents.count == 1 && intent.status == "requires_capture" && intent.amount == Int64(total))
            #expect(intent.currency == "eur" && intent.metadata["emporium_key"]?.hasPrefix("authorize-") == true)

            let captured = try await app.send(.post, "/v1/admin/orders/\(id)/capture", token: fixture.admin, json: nil)
            #expect(captured.status == .ok, "\(captured.text)")
            #expect(try captured.jsonObject()["status"] as? String == "paid")
            #expect(double.intents.first?.amountReceived == Int64(total))

            var headers = HTTPFields()
            headers[HTTPField.Name("Idempotency-Key")!] = "refund-1"
            let refunded = try await app.send(
                .post, "/v1/admin/orders/\(id)/refunds", token: fixture.admin, json: #"{"amount":500,"reason":"chipped"}"#,
                headers: headers)
            #expect(refunded.status == .created, "\(refunded.text)")
            #expect(double.intents.first?.refunded == 500)
            let after = try await app.send(.get, "/v1/admin/orders/\(id)", token: fixture.admin).jsonObject()
            #expect(after["status"] as? String == "partially_refunded")
            #expect((after["payment"] as? [String: Any])?["refunded"] as? Int == 500)
            // The events Stripe sends about all this change nothing more.
            #expect(try await double.sendEvents().allSatisfy { $0 == 200 })
            #expect(try await app.send(.get, "/v1/admin/orders/\(id)", token: fixture.admin).jsonObject()["status"] as? String == "partially_refunded")
            #expect(double.calls(.capture) == 1 && double.calls(.refund) == 1)
        }
    }

    @Test func aDeclinedCardAnswers402WithTheDeclineCode() async throws {
        try await withStripe { app, double in
            let fixture = try await CommerceFixture(app)
            for (method, code) in [("pm_card_chargeDeclined", "card_declined"), ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds")] {
                let cart = try await app.readyCart(fixture)
                let declined = try await app.stripeCheckout(cart, method: method)
                #expect(declined.status.code == 402, "\(declined.text)")
                #expect(try app.problemType(declined) == "urn:emporium:problem:payment-declined")
                #expect(declined.text.contains(code), "\(declined.text)")
                #expect(try declined.jsonObject()["errors"].map { "\($0)" }?.contains(code) == true)
                #expect(try await app.cart(cart, .get).jsonObject()["status"] as? String == "open")
            }
            // A payment method Stripe does not know is refused naming the parameter, not a 500.
            let cart = try await app.readyCart(fixture)
            let unknown = try await app.stripeCheckout(cart, method: "pm_nonsense")
            #expect(unknown.status.code == 402 && unknown.text.contains("payment_method"), "\(unknown.text)")
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders WHERE status = 'cancelled'") == 3)
            #expect(double.intents.allSatisfy { $0.amountReceived == 0 })
        }
    }

    @Test func aConfirmationThatHangsAfterTakingTheMoneyIsReconciledByTheJob() async throws {
        try await withStripe(timeout: 3) { app, double in
            let fixture = try await CommerceFixture(app)
            let cart = try await app.readyCart(fixture)
            double.inject(.hangAfterEffect, into: .confirm)
            let first = try await app.stripeCheckout(cart, method: "pm_card_visa")
            #expect(first.status == .gatewayTimeout, "\(first.text)")
            #expect(double.intents.first?.status == "requires_capture")
            // Nobody retries: the follow-up asks Stripe a minute later and finishes the order.
            app.clock.advance(by: 61)
            try await app.jobs.drain()
            let order = try #require(try await app.database.queryFirst("SELECT id, status FROM orders"))
            #expect(try order.decode("status", as: String.self) == "paid")
            #expect(double.intents.count == 1 && double.intents.first?.status == "succeeded")
            #expect(double.intents.first?.captures == 1)
        }
    }

    @Test func aRetriedCheckoutMakesNoSecondPaymentIntent() async throws {
        try await withStripe { app, double in
            let fixture = try await CommerceFixture(app)
            let cart = try await app.readyCart(fixture)
            double.inject(.serverErrorAfterEffect, into: .confirm)
            let first = try await app.stripeCheckout(cart, method: "pm_card_visa", key: "same-key")
            #expect(first.status == .gatewayTimeout, "\(first.text)")
            let retry = try await app.stripeCheckout(cart, method: "pm_card_visa", key: "same-key")
            #expect(retry.status == .created, "\(retry.text)")
            #expect(try retry.jsonObject()["status"] as? String == "paid")
            #expect(double.intents.count == 1)
            #expect(double.intents.first?.captures == 1)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders") == 1)
        }
    }

    @Test func aWebhookBeforeTheCheckoutAnswerLeavesOneOrder() async throws {
        try await withStripe { app, double in
            let fixture = try await CommerceFixture(app)
            let cart = try await app.readyCart(fixture)
            double.setDelivery(.beforeAnswer)
            let placed = try await app.stripeCheckout(cart, method: "pm_card_visa")
            #expect(placed.status == .created, "\(placed.text)")
            #expect(try placed.jsonObject()["status"] as? String == "paid")
            #expect(double.intents.count == 1 && double.intents.first?.captures == 1)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders WHERE status = 'paid'") == 1)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM payment_provider_events WHERE processed_at IS NOT NULL") >= 2)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM outbox WHERE event_type = 'order.paid'") == 1)
        }
    }

    @Test func forgedStaleAndDuplicateEvents() async throws {
        try await withStripe { app, double in
            let fixture = try await CommerceFixture(app)
            let cart = try await app.readyCart(fixture)
            #expect(try await app.stripeCheckout(cart, method: "pm_card_visa").status == .created)
            let event = try #require(double.takeHeldEvents().first)
            let now = Int64(app.clock.now().timeIntervalSince1970)

            let forged = try await app.stripeWebhook(event.body, signature: StripeDouble.signature(event.body, timestamp: now, secret: "whsec_guess"))
            #expect(forged.status == .badRequest)
            #expect(try app.problemType(forged) == "urn:emporium:problem:webhook-signature-invalid")
            let tampered = try await app.stripeWebhook(
                event.body.replacingOccurrences(of: "payment_intent.", with: "payment_intent.x"),
                signature: StripeDouble.signature(event.body, timestamp: now))
            #expect(try app.problemType(tampered) == "urn:emporium:problem:webhook-signature-invalid")
            let unsigned = try await app.stripeWebhook(event.body, signature: nil)
            #expect(try app.problemType(unsigned) == "urn:emporium:problem:webhook-signature-invalid")
            let stale = try await app.stripeWebhook(event.body, signature: StripeDouble.signature(event.body, timestamp: now - 301))
            #expect(stale.status == .badRequest)
            #expect(try app.problemType(stale) == "urn:emporium:problem:webhook-signature-stale")
            let garbage = try await app.stripeWebhook("not json", signature: StripeDouble.signature("not json", timestamp: now))
            #expect(garbage.status == .badRequest)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM payment_provider_events") == 0)

            // Signed with either secret of a rotation, several v1 values: accepted once, then a duplicate.
            let both = StripeDouble.signature(event.body, timestamp: now, secret: "whsec_old_rotated_out") + ","
                + StripeDouble.signature(event.body, timestamp: now).split(separator: ",")[1]
            let first = try await app.stripeWebhook(event.body, signature: both)
            #expect(first.status == .ok, "\(first.text)")
            #expect(try first.jsonObject()["duplicate"] as? Bool == false)
            let again = try await app.stripeWebhook(event.body, signature: StripeDouble.signature(event.body, timestamp: now))
            #expect(again.status == .ok)
            #expect(try again.jsonObject()["duplicate"] as? Bool == true)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM payment_provider_events") == 1)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders WHERE status = 'paid'") == 1)
            #expect(double.intents.first?.captures == 1)
        }
    }

    @Test func aPaymentNeedingThreeDSecureCompletesByWebhook() async throws {
        try await withStripe { app, double in
            let fixture = try await CommerceFixture(app)
            let cart = try await app.readyCart(fixture)
            let placed = try await app.stripeCheckout(cart, method: "pm_card_threeDSecure2Required", key: "3ds")
            #expect(placed.status == .accepted, "\(placed.text)")
            let order = try placed.jsonObject()
            #expect(order["status"] as? String == "pending")
            let action = try #require(order["payment_action"] as? [String: Any])
            let intent = try #require(double.intents.first)
            #expect(action["client_secret"] as? String == "\(intent.id)_secret_double")
            #expect((action["next_action"] as? [String: Any])?["type"] as? String == "use_stripe_sdk")
            // The client secret is not kept at rest; a repeat asks Stripe again.
            #expect(try await app.count("SELECT COUNT(*) AS n FROM idempotency_keys WHERE response LIKE '%secret_double%'") == 0)
            let repeated = try await app.stripeCheckout(cart, method: "pm_card_threeDSecure2Required", key: "3ds")
            #expect(repeated.status == .accepted)
            #expect(double.intents.count == 1)

            try await double.sendEvents()
            try await double.completeAction(intent.id)
            let id = try #require(order["id"] as? String)
            let paid = try await app.send(.get, "/v1/admin/orders/\(id)", token: fixture.admin).jsonObject()
            #expect(paid["status"] as? String == "paid")
            #expect(double.intents.first?.captures == 1)
            // The same key now answers the paid order.
            let after = try await app.stripeCheckout(cart, method: "pm_card_threeDSecure2Required", key: "3ds")
            #expect(after.status == .created, "\(after.text)")
            #expect(try after.jsonObject()["status"] as? String == "paid")
        }
    }

    @Test func aPaymentTheCustomerNeverConfirmsIsCancelledAtStripeToo() async throws {
        try await withStripe { app, double in
            let fixture = try await CommerceFixture(app)
            let cart = try await app.readyCart(fixture)
            #expect(try await app.stripeCheckout(cart, method: "pm_card_threeDSecure2Required").status == .accepted)
            app.clock.advance(by: 16 * 60)
            try await app.jobs.drain()
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders WHERE status = 'cancelled'") == 1)
            // The release job follows a little later and cancels the PaymentIntent.
            app.clock.advance(by: 121)
            try await app.jobs.drain()
            #expect(double.intents.first?.status == "canceled")
            // Completing it now is too late: nothing can be captured.
            try await double.completeAction(try #require(double.intents.first?.id))
            #expect(double.intents.first?.amountReceived == 0)
        }
    }

    @Test func webhooksRacingCheckoutsLeaveOneConsistentOrderEach() async throws {
        try await withStripe { app, double in
            let fixture = try await CommerceFixture(app, stock: 100)
            let count = 12
            var carts: [TestCart] = []
            for _ in 0..<count { carts.append(try await app.readyCart(fixture)) }
            double.setDelivery(.concurrently)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for cart in carts {
                    group.addTask { Int(try await app.stripeCheckout(cart, method: "pm_card_visa").status.code) }
                    group.addTask {
                        // The customer's browser and Stripe's webhook both push on the same order.
                        _ = try await double.sendEvents()
                        return 0
                    }
                }
                var all: [Int] = []
                for try await status in group where status != 0 { all.append(status) }
                return all
            }
            // Every event, including those still in flight, once more (Stripe retries).
            try await Task.sleep(for: .milliseconds(200))
            for event in double.sentEvents { _ = try await double.send(event) }
            #expect(statuses.allSatisfy { $0 == 201 || $0 == 409 }, "\(statuses)")
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders") == Int64(count))
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders WHERE status = 'paid'") == Int64(count))
            #expect(try await app.count("SELECT COUNT(*) AS n FROM payments WHERE status = 'captured' AND captured = amount") == Int64(count))
            #expect(try await app.count("SELECT COUNT(*) AS n FROM outbox WHERE event_type = 'order.paid'") == Int64(count))
            #expect(double.intents.count == count)
            #expect(double.intents.allSatisfy { $0.captures == 1 && $0.status == "succeeded" })
        }
    }
}

extension TestApp {
    func stripeCheckout(_ cart: TestCart, method: String, key: String = UUID().uuidString) async throws -> TestResponse {
        var headers = HTTPFields()
        headers[HTTPField.Name("Idempotency-Key")!] = key
        return try await self.cart(cart, .post, "/checkout", json: #"{"payment":{"provider":"stripe","token":"\#(method)"}}"#, headers: headers)
    }

    func stripeWebhook(_ body: String, signature: String?) async throws -> TestResponse {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if let signature { headers[HTTPField.Name("Stripe-Signature")!] = signature }
        return try await http.execute(uri: "/v1/payments/webhooks/stripe", method: .post, headers: headers, body: ByteBuffer(string: body))
    }
}
