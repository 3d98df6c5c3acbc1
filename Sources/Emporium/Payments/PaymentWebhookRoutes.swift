import Foundation
import HTTPTypes
import Hummingbird

/// `POST /v1/payments/webhooks/{provider}`: events from payment providers (Stripe). No
/// caller identity: the provider's signature over the raw body is the authentication.
struct PaymentWebhookRoutes {
    let webhooks: ProviderWebhooks

    struct Received: ResponseEncodable {
        let received: Bool
        let duplicate: Bool
    }

    func register(on routes: RouteRegistrar) {
        routes.on(.post, "/v1/payments/webhooks/:provider", access: .anonymous) { request, context -> Received in
            guard context.parameters.get("provider") == "stripe" else {
                throw Problem.notFound("There is no payment provider webhook of this name; the one provider with webhooks is stripe.")
            }
            // The signature covers the bytes as sent, so they are read here, not decoded.
            var request = request
            let body = try await request.collectBody(upTo: context.bodyLimit)
            let outcome = try await webhooks.stripe(
                body: Array(body.readableBytesView), signature: request.headers[HTTPField.Name("Stripe-Signature")!])
            return Received(received: true, duplicate: outcome == .duplicate)
        }
    }
}
