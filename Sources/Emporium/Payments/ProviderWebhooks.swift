import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Logging

/// What a payment provider tells us on its own (Stripe's webhooks): each event is verified,
/// recorded once by its id, and turned into "bring this payment up to date", which the order
/// service does by asking the provider, exactly as the reconcile job would. So an event that
/// arrives before, during or after the checkout request, twice, or out of order leaves the
/// same one order.
struct ProviderWebhooks: Sendable {
    let database: any Database
    let payments: PaymentStore
    let service: OrderService
    /// Stripe's signing secrets (one, or two while rotating); empty when Stripe is not set up.
    let stripeSecrets: [String]
    let clock: any WallClock
    let logger: Logger

    enum Outcome: Sendable, Equatable {
        case processed
        /// Seen and processed before: nothing done.
        case duplicate
        /// Verified, but about nothing of ours (another system on the same Stripe account).
        case ignored
    }

    /// The event types that say something about a payment's state.
    static let paymentEvents: Set<String> = [
        "payment_intent.succeeded", "payment_intent.amount_capturable_updated", "payment_intent.payment_failed",
        "payment_intent.canceled", "payment_intent.requires_action", "payment_intent.processing", "charge.refunded",
        "charge.refund.updated", "charge.captured",
    ]

    struct Event: Decodable {
        let id: String
        let type: String
        let data: DataObject

        struct DataObject: Decodable {
            let object: JSONValue
        }
    }

    /// Handles one Stripe webhook; throws a problem for anything to refuse (400), and a
    /// retryable problem (503) when the payment could not be brought up to date now, so that
    /// Stripe sends the event again.
    func stripe(body: [UInt8], signature: String?) async throws -> Outcome {
        guard !stripeSecrets.isEmpty else {
            throw Problem.notFound("Stripe webhooks are not set up on this server (--stripe-webhook-secret-file).")
        }
        do {
            try StripeSignature.verify(header: signature, body: body, secrets: stripeSecrets, now: clock.now())
        } catch {
            logger.notice("Refused a Stripe webhook", metadata: ["reason": "\(error)"])
            switch error {
            case .malformed:
                throw Problem(.badRequest, slug: "webhook-signature-invalid", title: "Invalid webhook signature",
                              detail: "The Stripe-Signature header is missing or not of the form t=…,v1=….")
            case .mismatch:
                throw Problem(.badRequest, slug: "webhook-signature-invalid", title: "Invalid webhook signature",
                              detail: "No v1 signature of the Stripe-Signature header matches the body with this endpoint's signing secret.")
            case .stale:
                throw Problem(.badRequest, slug: "webhook-signature-stale", title: "Stale webhook signature",
                              detail: "The Stripe-Signature timestamp is more than \(Int(StripeSignature.tolerance)) seconds from this server's time.")
            }
        }
        guard let event = try? JSONDecoder().decode(Event.self, from: Data(body)), !event.id.isEmpty else {
            throw Problem.badRequest("The webhook body is not a Stripe event (id, type, data.object).")
        }
        let payment = Self.paymentEvents.contains(event.type) ? try await payment(of: event.data.object) : nil
        let now = clock.now()
        let state = try await payments.recordProviderEvent(
            provider: "stripe", id: event.id, type: event.type, payment: payment, at: now, on: database)
        if state == .processed { return .duplicate }
        guard let payment else {
            try await payments.markProviderEventProcessed(provider: "stripe", id: event.id, at: now, on: database)
            return .ignored
        }
        do {
            try await service.providerReported(payment)
        } catch let failure as JobFailure {
            logger.warning("A Stripe event could not be applied yet; Stripe will send it again", metadata: [
                "event": "\(event.id)", "type": "\(event.type)", "reason": "\(failure)",
            ])
            throw Problem(.serviceUnavailable, slug: "provider-unavailable", title: "Try again later",
                          detail: "The payment could not be brought up to date now; send the event again.",
                          headers: [.retryAfter: "30"])
        }
        try await payments.markProviderEventProcessed(provider: "stripe", id: event.id, at: clock.now(), on: database)
        return .processed
    }

    /// Our payment an event's object is about: a PaymentIntent carries our key in its
    /// metadata (`authorize-<payment id>`); a charge or refund names its PaymentIntent.
    private func payment(of object: JSONValue) async throws -> ID<Payment>? {
        if let key = object["metadata"]?["emporium_key"]?.string, key.hasPrefix("authorize-"),
            let id = ID<Payment>(String(key.dropFirst("authorize-".count)))
        {
            return id
        }
        let intent = object["object"]?.string == "payment_intent" ? object["id"]?.string : object["payment_intent"]?.string
        guard let intent else { return nil }
        return try await payments.payment(provider: "stripe", reference: intent, on: database)?.id
    }
}
