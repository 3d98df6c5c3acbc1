import AsyncHTTPClient
public import EmporiumCore
public import Foundation
public import Logging
import NIOCore
import NIOHTTP1

/// The `stripe` provider: Stripe's PaymentIntents API (or any server that speaks it) over
/// HTTPS, with manual capture.
///
/// An authorization is two calls: the PaymentIntent is created (`capture_method=manual`) with
/// a body made only of what Emporium keeps (amount, currency, our key in `metadata`), then
/// confirmed with the client's payment method. Both carry Idempotency-Keys from our payment
/// id, and because the first call's body can be rebuilt from the database, a lookup after a
/// lost answer or a crash replays it to learn the PaymentIntent's id (Stripe keeps keys for
/// 24 hours; the reconcile job asks within the reservation time) and then reads its state.
/// Capture, cancel and refund replay with their own keys the same way.
public final class StripeProvider: PaymentProvider {
    /// The API version every call is made against, so that Stripe's answers keep the shape
    /// this code reads whatever the account's default is.
    public static let apiVersion = "2024-06-20"

    public let name = "stripe"
    private let http: OutboundHTTPClient
    private let base: String
    private let secretKey: String
    private let logger: Logger

    /// `base` without a trailing slash (`https://api.stripe.com`); each call may take
    /// `timeout` seconds, connecting included.
    public init(base: String, secretKey: String, timeout: TimeInterval = 20, logger: Logger) {
        self.base = base
        self.secretKey = secretKey
        self.logger = logger
        http = OutboundHTTPClient(timeout: timeout)
    }


    // MARK: PaymentProvider

    public func authorize(amount: Money, token: String, idempotencyKey: String) async throws(PaymentFailure) -> AuthorizeOutcome {
        let created = try await create(amount: amount, idempotencyKey: idempotencyKey)
        var (intent, replayed) = try await call(
            "/v1/payment_intents/\(created.id)/confirm", ["payment_method": token], idempotencyKey: idempotencyKey + "-confirm",
            as: PaymentIntent.self)
        // A replayed confirmation is the first answer; the customer may have acted since.
        if replayed { intent = try await retrieve(intent.id) }
        switch intent.status {
        case "requires_capture", "succeeded":
            return .authorized(reference: intent.id)
        case "requires_action":
            return .requiresAction(
                reference: intent.id, clientSecret: intent.clientSecret ?? "", nextAction: (intent.nextAction ?? .null).text)
        case "processing":
            // Neither approved nor refused yet: like a lost answer, the lookup settles it.
            throw .timeout
        default:
            throw .declined(code: intent.failureCode ?? "card_declined")
        }
    }

    public func capture(reference: String, amount: Money, idempotencyKey: String) async throws(PaymentFailure) {
        _ = try await call(
            "/v1/payment_intents/\(reference)/capture", ["amount_to_capture": String(amount.minorUnits)],
            idempotencyKey: idempotencyKey, as: PaymentIntent.self)
    }

    public func refund(reference: String, amount: Money, idempotencyKey: String) async throws(PaymentFailure) -> String {
        let (refund, _) = try await call(
            "/v1/refunds",
            ["payment_intent": reference, "amount": String(amount.minorUnits), "metadata[emporium_key]": idempotencyKey],
            idempotencyKey: idempotencyKey, as: RefundObject.self)
        guard refund.status != "failed", refund.status != "canceled" else {
            throw .rejected("the refund \(refund.id) \(refund.status ?? "failed")")
        }
        return refund.id
    }

    public func void(reference: String, idempotencyKey: String) async throws(PaymentFailure) {
        _ = try await call("/v1/payment_intents/\(reference)/cancel", [:], idempotencyKey: idempotencyKey, as: PaymentIntent.self)
    }

    public func lookup(idempotencyKey: String, amount: Money, reference: String?) async throws(PaymentFailure) -> ProviderRecord? {
        if idempotencyKey.hasPrefix("authorize-") {
            let id: String
            if let reference {
                id = reference
            } else {
                id = try await create(amount: amount, idempotencyKey: idempotencyKey).id
            }
            let intent = try await retrieve(id)
            switch intent.status {
            case "requires_capture", "succeeded": return .succeeded(reference: intent.id)
            case "requires_action", "processing": return .awaitingAction(reference: intent.id)
            case "canceled": return .failed(code: intent.failureCode ?? "canceled")
            default:
                // Never confirmed (nil), or confirmed and refused.
                return intent.lastPaymentError == nil ? nil : .failed(code: intent.failureCode ?? "card_declined")
            }
        }
        if idempotencyKey.hasPrefix("capture-") || idempotencyKey.hasPrefix("release-capture-") {
            guard let reference else { return nil }
            let intent = try await retrieve(reference)
            return intent.status == "succeeded" && (intent.amountReceived ?? 0) > 0 ? .succeeded(reference: intent.id) : nil
        }
        // Refunds and voids are settled by repeating them with their key, not looked up.
        return nil
    }

    // MARK: Calls

    private func create(amount: Money, idempotencyKey: String) async throws(PaymentFailure) -> PaymentIntent {
        try await call(
            "/v1/payment_intents",
            [
                "amount": String(amount.minorUnits), "currency": amount.currency.code.lowercased(),
                "capture_method": "manual", "payment_method_types[]": "card", "metadata[emporium_key]": idempotencyKey,
            ],
            idempotencyKey: idempotencyKey, as: PaymentIntent.self
        ).0
    }

    private func retrieve(_ id: String) async throws(PaymentFailure) -> PaymentIntent {
        try await call("/v1/payment_intents/\(id)", nil, idempotencyKey: nil, as: PaymentIntent.self).0
    }

    /// One call: a POST with `form` (and the key), or a GET without. Returns the object and
    /// whether Stripe answered with a replay of an earlier call with the key.
    private func call<Object: Decodable>(
        _ path: String, _ form: [String: String]?, idempotencyKey: String?, as: Object.Type
    ) async throws(PaymentFailure) -> (Object, Bool) {
        var request = HTTPClientRequest(url: base + path)
        request.headers.add(name: "authorization", value: "Bearer \(secretKey)")
        request.headers.add(name: "stripe-version", value: Self.apiVersion)
        request.headers.add(name: "user-agent", value: "Emporium")
        if let form {
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/x-www-form-urlencoded")
            if let idempotencyKey { request.headers.add(name: "idempotency-key", value: idempotencyKey) }
            request.body = .bytes(ByteBuffer(string: Self.formEncoded(form)))
        } else {
            request.method = .GET
        }
        let status: Int
        let body: ByteBuffer
        let replayed: Bool
        // Named by the path's first two segments: the third is a payment's id.
        let span = OutgoingCallSpan.start(
            "\(request.method.rawValue) stripe \(path.split(separator: "/").prefix(2).joined(separator: "/"))",
            peer: URLHost.of(base), system: "stripe")
        defer { span.end() }
        span.propagate(into: &request.headers)
        do {
            let response = try await http.client.execute(request, timeout: http.timeout)
            status = Int(response.status.code)
            span.answered(status: status)
            replayed = response.headers.first(name: "idempotent-replayed") == "true"
            body = try await response.body.collect(upTo: 1 << 20)
        } catch {
            // No answer (refused connection, timeout, a dropped connection): the call may or
            // may not have taken effect; the same key settles it later.
            span.failed(error)
            logger.warning("Stripe did not answer", metadata: ["path": "\(path)", "error": "\(error)"])
            throw .timeout
        }
        let data = Data(body.readableBytesView)
        guard (200..<300).contains(status) else { throw failure(status: status, data, path: path) }
        do {
            return (try JSONDecoder().decode(Object.self, from: data), replayed)
        } catch {
            logger.error("Stripe answered with an object this code cannot read", metadata: ["path": "\(path)"])
            throw .timeout
        }
    }

    /// Stripe's error object (`type`, `code`, `decline_code`, `param`) as our failure.
    private func failure(status: Int, _ data: Data, path: String) -> PaymentFailure {
        let error = (try? JSONDecoder().decode(ErrorEnvelope.self, from: data))?.error
        let type = error?.type ?? ""
        let metadata: Logger.Metadata = [
            "path": "\(path)", "status": "\(status)", "type": "\(type)", "code": "\(error?.code ?? "")",
        ]
        if type == "card_error" || status == 402 {
            return .declined(code: Self.declineCode(error?.declineCode, error?.code))
        }
        if type == "idempotency_error" {
            // A key reused with another body: a bug of ours, never worth repeating.
            logger.error("Stripe refused a reused Idempotency-Key", metadata: metadata)
            return .rejected("idempotency_error: \(error?.message ?? "the key was used with other parameters")")
        }
        if status == 429 || type == "rate_limit_error" || status >= 500 || type == "api_error" || status == 409 {
            // Rate limited, failing, or still busy with the first call of this key: try again later.
            logger.notice("Stripe asked to try again later", metadata: metadata)
            return .timeout
        }
        if status == 401 || status == 403 || type == "authentication_error" {
            // Our configuration, not the customer: retried by the jobs once it is fixed.
            logger.error("Stripe refused the secret key (--stripe-secret-key-file)", metadata: metadata)
            return .timeout
        }
        logger.notice("Stripe refused the request", metadata: metadata)
        var reason = error?.message ?? "the request was refused (\(status))"
        if let param = error?.param { reason += " (param: \(param))" }
        if let code = error?.code { reason = "\(code): \(reason)" }
        return .rejected(reason)
    }

    /// The most telling reason of a decline: Stripe's `decline_code` (`insufficient_funds`,
    /// `lost_card`…) unless it says no more than `code` does (`generic_decline`).
    static func declineCode(_ declineCode: String?, _ code: String?) -> String {
        if let declineCode, declineCode != "generic_decline" { return declineCode }
        return code ?? "card_declined"
    }

    /// `application/x-www-form-urlencoded`, keys in a fixed order so that a replay sends the
    /// same body byte for byte.
    static func formEncoded(_ form: [String: String]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._*")
        func encode(_ text: String) -> String {
            (text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text)
        }
        return form.sorted { $0.key < $1.key }.map { encode($0.key) + "=" + encode($0.value) }.joined(separator: "&")
    }

    // MARK: Stripe's objects (the fields read here)

    struct PaymentIntent: Decodable {
        let id: String
        let status: String
        let amountReceived: Int64?
        let clientSecret: String?
        let nextAction: JSONValue?
        let lastPaymentError: StripeError?
        let cancellationReason: String?

        var failureCode: String? {
            lastPaymentError.map { StripeProvider.declineCode($0.declineCode, $0.code) } ?? cancellationReason.map { "canceled_\($0)" }
        }

        enum CodingKeys: String, CodingKey {
            case id, status
            case amountReceived = "amount_received"
            case clientSecret = "client_secret"
            case nextAction = "next_action"
            case lastPaymentError = "last_payment_error"
            case cancellationReason = "cancellation_reason"
        }
    }

    struct RefundObject: Decodable {
        let id: String
        let status: String?
    }

    struct StripeError: Decodable {
        let type: String?
        let code: String?
        let declineCode: String?
        let param: String?
        let message: String?

        enum CodingKeys: String, CodingKey {
            case type, code, param, message
            case declineCode = "decline_code"
        }
    }

    struct ErrorEnvelope: Decodable {
        let error: StripeError
    }
}
