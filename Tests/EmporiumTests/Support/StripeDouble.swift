import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import Synchronization

/// A local stand-in for Stripe's API, for tests: a real HTTP server on 127.0.0.1 at a free
/// port speaking Stripe's wire format (form-encoded requests, JSON answers, Stripe's error
/// objects), keeping PaymentIntents and refunds in memory.
///
/// It honours Idempotency-Key as Stripe does (same key and body: the first answer again, with
/// `Idempotent-Replayed: true`; same key, other body: 400 `idempotency_error`), knows Stripe's
/// test payment methods (`pm_card_visa` approves, `pm_card_chargeDeclined` and
/// `pm_card_chargeDeclinedInsufficientFunds` decline, `pm_card_threeDSecure2Required` needs
/// 3-D Secure), can fail *after* acting (500, or no answer), and signs the events it sends
/// to the application's webhook route with the webhook secret, as Stripe does.
final class StripeDouble: Sendable {
    static let secretKey = "sk_test_double"
    static let webhookSecret = "whsec_double"

    enum Operation: String, Sendable { case create, confirm, capture, cancel, refund }

    enum Fault: Sendable {
        /// The call takes effect, then answers 500.
        case serverErrorAfterEffect
        /// The call takes effect, then never answers (the client times out).
        case hangAfterEffect
        /// 500 without doing anything.
        case serverError
    }

    /// When the events a call causes are sent to the application.
    enum Delivery: Sendable {
        /// Kept until `sendEvents()`.
        case held
        /// Sent and answered before the call that caused them answers.
        case beforeAnswer
        /// Sent at the same time as the answer (racing it).
        case concurrently
    }

    struct Intent: Sendable {
        var id: String
        var amount: Int64
        var currency: String
        var status: String
        var paymentMethod: String?
        var amountCapturable: Int64 = 0
        var amountReceived: Int64 = 0
        var refunded: Int64 = 0
        var metadata: [String: String]
        var lastPaymentError: [String: String]?
        var nextAction = false
        var cancellationReason: String?
        var captures = 0
    }

    struct Answer: Sendable {
        let status: Int
        let body: String
    }

    struct Event: Sendable {
        let id: String
        let body: String
    }

    struct State {
        var intents: [String: Intent] = [:]
        var order: [String] = []
        var idempotency: [String: (fingerprint: String, answer: Answer)] = [:]
        var faults: [Operation: [Fault]] = [:]
        var events: [Event] = []
        var delivery: Delivery = .held
        var serial = 0
        var calls: [Operation: Int] = [:]
        /// Every event sent, in order.
        var sent: [Event] = []
    }

    private let state = Mutex(State())
    /// Sends a signed event to the application: body and `Stripe-Signature`; answers the status.
    let deliver = Mutex<(@Sendable (String, String) async throws -> Int)?>(nil)
    /// The time events are signed at (the application's clock, in tests that move it).
    let now = Mutex<@Sendable () -> Date>({ Date() })
    let port: Int
    var url: String { "http://127.0.0.1:\(port)" }

    private init(port: Int) { self.port = port }

    // MARK: Test controls

    func inject(_ fault: Fault, into operation: Operation, count: Int = 1) {
        state.withLock { $0.faults[operation, default: []] += Array(repeating: fault, count: count) }
    }

    func setDelivery(_ delivery: Delivery) { state.withLock { $0.delivery = delivery } }

    var intents: [Intent] { state.withLock { state in state.order.compactMap { state.intents[$0] } } }

    func calls(_ operation: Operation) -> Int { state.withLock { $0.calls[operation] ?? 0 } }

    var sentEvents: [Event] { state.withLock { $0.sent } }

    /// The events held so far, no longer held (to send by hand).
    func takeHeldEvents() -> [Event] {
        state.withLock { state in
            defer { state.events = [] }
            return state.events
        }
    }

    /// Sends every held event, oldest first; answers the application's statuses.
    @discardableResult
    func sendEvents() async throws -> [Int] {
        let events = takeHeldEvents()
        var statuses: [Int] = []
        for event in events { statuses.append(try await send(event)) }
        return statuses
    }

    /// The customer finishes (or fails) 3-D Secure for an intent waiting on it.
    func completeAction(_ id: String, succeed: Bool = true) async throws {
        let events = state.withLock { state -> [Event] in
            guard var intent = state.intents[id], intent.status == "requires_action" else { return [] }
            intent.nextAction = false
            if succeed {
                intent.status = "requires_capture"
                intent.amountCapturable = intent.amount
                state.intents[id] = intent
                return [Self.event("payment_intent.amount_capturable_updated", intent, &state)]
            }
            intent.status = "requires_payment_method"
            intent.lastPaymentError = ["type": "card_error", "code": "payment_intent_authentication_failure"]
            state.intents[id] = intent
            return [Self.event("payment_intent.payment_failed", intent, &state)]
        }
        for event in events { _ = try await send(event) }
    }

    /// Signs `body` as Stripe does, at `timestamp`, with `secret`.
    static func signature(_ body: String, timestamp: Int64, secret: String = webhookSecret) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(timestamp).\(body)".utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return "t=\(timestamp),v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Sends one event (again): signed now, delivered to the application.
    @discardableResult
    func send(_ event: Event) async throws -> Int {
        guard let deliver = deliver.withLock({ $0 }) else { throw TestFailure("the Stripe double has nowhere to send events") }
        let timestamp = Int64(now.withLock { $0 }().timeIntervalSince1970)
        state.withLock { $0.sent.append(event) }
        return try await deliver(event.body, Self.signature(event.body, timestamp: timestamp))
    }

    // MARK: Server

    static func run<Result: Sendable>(_ body: (StripeDouble) async throws -> Result) async throws -> Result {
        let router = Router()
        let box = Mutex<StripeDouble?>(nil)
        router.post("/v1/payment_intents") { request, _ in try await box.withLock { $0 }!.handle(request, .create, id: nil) }
        router.get("/v1/payment_intents/:id") { request, context in
            try await box.withLock { $0 }!.handle(request, nil, id: context.parameters.get("id"))
        }
        for operation in [Operation.confirm, .capture, .cancel] {
            router.post("/v1/payment_intents/:id/\(operation.rawValue)") { request, context in
                try await box.withLock { $0 }!.handle(request, operation, id: context.parameters.get("id"))
            }
        }
        router.post("/v1/refunds") { request, _ in try await box.withLock { $0 }!.handle(request, .refund, id: nil) }
        return try await withLocalServer(router, named: "the Stripe double") { port in
            let double = StripeDouble(port: port)
            box.withLock { $0 = double }
            return try await body(double)
        }
    }

    private func handle(_ request: Request, _ operation: Operation?, id: String?) async throws -> Response {
        guard request.headers[.authorization] == "Bearer \(Self.secretKey)" else {
            return Self.error(401, type: "invalid_request_error", code: nil, message: "Invalid API Key provided")
        }
        guard request.headers[HTTPField.Name("Stripe-Version")!] != nil else {
            return Self.error(400, type: "invalid_request_error", code: "missing_version", message: "Pin an API version")
        }
        guard let operation else {
            let answer = state.withLock { state in
                state.intents[id ?? ""].map { Answer(status: 200, body: Self.json($0)) }
                    ?? Self.missing("payment_intent", id ?? "")
            }
            return Self.response(answer)
        }
        var request = request
        let bodyText = String(buffer: try await request.collectBody(upTo: 1 << 20))
        let form = Self.parse(bodyText)
        let key = request.headers[HTTPField.Name("Idempotency-Key")!]
        let fingerprint = "\(request.uri.path)?\(bodyText)"
        // Look up the key, act and store the answer in one step, as Stripe's own lock does.
        let (answer, replayed, fault, events) = state.withLock { state -> (Answer, Bool, Fault?, [Event]) in
            state.calls[operation, default: 0] += 1
            if let key, let earlier = state.idempotency[key] {
                guard earlier.fingerprint == fingerprint else {
                    return (Self.errorAnswer(400, type: "idempotency_error", code: nil,
                        message: "Keys for idempotent requests can only be used with the same parameters they were first used with."), false, nil, [])
                }
                return (earlier.answer, true, nil, [])
            }
            var fault: Fault?
            if var queued = state.faults[operation], !queued.isEmpty {
                fault = queued.removeFirst()
                state.faults[operation] = queued
            }
            if fault == .serverError { return (Self.errorAnswer(500, type: "api_error", code: nil, message: "boom"), false, fault, []) }
            var events: [Event] = []
            let answer = Self.act(operation, id: id, form: form, state: &state, events: &events)
            if let key, answer.status != 500 { state.idempotency[key] = (fingerprint, answer) }
            return (answer, false, fault, events)
        }
        let delivery = state.withLock { state in
            if state.delivery == .held { state.events += events }
            return state.delivery
        }
        switch delivery {
        case .held: break
        case .beforeAnswer: for event in events { _ = try await send(event) }
        case .concurrently: for event in events { Task { _ = try? await send(event) } }
        }
        switch fault {
        case .serverErrorAfterEffect?: return Self.response(Self.errorAnswer(500, type: "api_error", code: nil, message: "boom"))
        case .hangAfterEffect?:
            try? await Task.sleep(for: .seconds(8))
            return Self.response(Self.errorAnswer(500, type: "api_error", code: nil, message: "too late"))
        default:
            var response = Self.response(answer)
            if replayed { response.headers[HTTPField.Name("Idempotent-Replayed")!] = "true" }
            return response
        }
    }

    // MARK: Stripe's semantics

    private static func act(_ operation: Operation, id: String?, form: [String: String], state: inout State, events: inout [Event]) -> Answer {
        state.serial += 1
        let serial = state.serial
        switch operation {
        case .create:
            guard let amount = form["amount"].flatMap(Int64.init), amount > 0 else {
                return errorAnswer(400, type: "invalid_request_error", code: "parameter_missing", message: "Missing required param: amount.", param: "amount")
            }
            guard let currency = form["currency"], currency.count == 3 else {
                return errorAnswer(400, type: "invalid_request_error", code: "parameter_missing", message: "Missing required param: currency.", param: "currency")
            }
            var metadata: [String: String] = [:]
            for (name, value) in form where name.hasPrefix("metadata[") { metadata[String(name.dropFirst(9).dropLast())] = value }
            let intent = Intent(id: "pi_\(serial)", amount: amount, currency: currency, status: "requires_payment_method", metadata: metadata)
            state.intents[intent.id] = intent
            state.order.append(intent.id)
            return Answer(status: 200, body: json(intent))
        case .confirm:
            guard var intent = state.intents[id ?? ""] else { return missing("payment_intent", id ?? "") }
            guard ["requires_payment_method", "requires_confirmation"].contains(intent.status) else { return unexpected(intent, "confirm") }
            let method = form["payment_method"] ?? ""
            intent.paymentMethod = method
            intent.lastPaymentError = nil
            switch method {
            case "pm_card_visa", "pm_card_mastercard":
                intent.status = "requires_capture"
                intent.amountCapturable = intent.amount
                state.intents[intent.id] = intent
                events.append(event("payment_intent.amount_capturable_updated", intent, &state))
                return Answer(status: 200, body: json(intent))
            case "pm_card_threeDSecure2Required":
                intent.status = "requires_action"
                intent.nextAction = true
                state.intents[intent.id] = intent
                events.append(event("payment_intent.requires_action", intent, &state))
                return Answer(status: 200, body: json(intent))
            case "pm_card_chargeDeclined", "pm_card_chargeDeclinedInsufficientFunds":
                let decline = method == "pm_card_chargeDeclined" ? "generic_decline" : "insufficient_funds"
                intent.lastPaymentError = ["type": "card_error", "code": "card_declined", "decline_code": decline]
                intent.status = "requires_payment_method"
                state.intents[intent.id] = intent
                events.append(event("payment_intent.payment_failed", intent, &state))
                return errorAnswer(402, type: "card_error", code: "card_declined", message: "Your card was declined.", declineCode: decline,
                                   intent: intent)
            default:
                return errorAnswer(400, type: "invalid_request_error", code: "resource_missing",
                                   message: "No such PaymentMethod: '\(method)'", param: "payment_method")
            }
        case .capture:
            guard var intent = state.intents[id ?? ""] else { return missing("payment_intent", id ?? "") }
            guard intent.status == "requires_capture" else { return unexpected(intent, "capture") }
            let amount = form["amount_to_capture"].flatMap(Int64.init) ?? intent.amountCapturable
            guard amount > 0, amount <= intent.amountCapturable else {
                return errorAnswer(400, type: "invalid_request_error", code: "amount_too_large",
                                   message: "The amount to capture is larger than what is capturable.", param: "amount_to_capture")
            }
            intent.amountReceived = amount
            intent.amountCapturable = 0
            intent.status = "succeeded"
            intent.captures += 1
            state.intents[intent.id] = intent
            events.append(event("payment_intent.succeeded", intent, &state))
            return Answer(status: 200, body: json(intent))
        case .cancel:
            guard var intent = state.intents[id ?? ""] else { return missing("payment_intent", id ?? "") }
            guard ["requires_payment_method", "requires_capture", "requires_confirmation", "requires_action"].contains(intent.status)
            else { return unexpected(intent, "cancel") }
            intent.status = "canceled"
            intent.amountCapturable = 0
            intent.cancellationReason = "requested_by_customer"
            state.intents[intent.id] = intent
            events.append(event("payment_intent.canceled", intent, &state))
            return Answer(status: 200, body: json(intent))
        case .refund:
            guard let intentID = form["payment_intent"], var intent = state.intents[intentID] else {
                return errorAnswer(400, type: "invalid_request_error", code: "resource_missing", message: "No such payment_intent", param: "payment_intent")
            }
            let amount = form["amount"].flatMap(Int64.init) ?? (intent.amountReceived - intent.refunded)
            guard intent.status == "succeeded", amount > 0, intent.refunded + amount <= intent.amountReceived else {
                return errorAnswer(400, type: "invalid_request_error", code: "charge_already_refunded",
                                   message: "The refund is more than what is left of the charge.", param: "amount")
            }
            intent.refunded += amount
            state.intents[intent.id] = intent
            let charge = #"{"id":"ch_\#(intent.id.dropFirst(3))","object":"charge","payment_intent":"\#(intent.id)","amount":\#(intent.amountReceived),"amount_refunded":\#(intent.refunded),"refunded":\#(intent.refunded == intent.amountReceived)}"#
            state.serial += 1
            let body = #"{"id":"evt_\#(state.serial)","object":"event","api_version":"2024-06-20","type":"charge.refunded","data":{"object":\#(charge)}}"#
            events.append(Event(id: "evt_\(state.serial)", body: body))
            return Answer(status: 200, body: #"{"id":"re_\#(serial)","object":"refund","amount":\#(amount),"payment_intent":"\#(intent.id)","status":"succeeded"}"#)
        }
    }

    private static func event(_ type: String, _ intent: Intent, _ state: inout State) -> Event {
        state.serial += 1
        let id = "evt_\(state.serial)"
        return Event(id: id, body: #"{"id":"\#(id)","object":"event","api_version":"2024-06-20","type":"\#(type)","data":{"object":\#(json(intent))}}"#)
    }

    static func json(_ intent: Intent) -> String {
        var object: [String: Any] = [
            "id": intent.id, "object": "payment_intent", "amount": intent.amount, "currency": intent.currency,
            "status": intent.status, "capture_method": "manual", "amount_capturable": intent.amountCapturable,
            "amount_received": intent.amountReceived, "client_secret": "\(intent.id)_secret_double", "metadata": intent.metadata,
            "payment_method": intent.paymentMethod ?? NSNull(), "cancellation_reason": intent.cancellationReason ?? NSNull(),
            "last_payment_error": intent.lastPaymentError ?? NSNull(),
            "next_action": intent.nextAction
                ? ["type": "use_stripe_sdk", "use_stripe_sdk": ["type": "three_d_secure_redirect", "stripe_js": "https://hooks.stripe.test/3ds"]]
                : NSNull(),
        ]
        object["livemode"] = false
        return String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    private static func missing(_ kind: String, _ id: String) -> Answer {
        errorAnswer(404, type: "invalid_request_error", code: "resource_missing", message: "No such \(kind): '\(id)'", param: "id")
    }

    private static func unexpected(_ intent: Intent, _ action: String) -> Answer {
        errorAnswer(400, type: "invalid_request_error", code: "payment_intent_unexpected_state",
                    message: "You cannot \(action) this PaymentIntent because it has a status of \(intent.status).", intent: intent)
    }

    private static func errorAnswer(
        _ status: Int, type: String, code: String?, message: String, param: String? = nil, declineCode: String? = nil,
        intent: Intent? = nil
    ) -> Answer {
        var error: [String: Any] = ["type": type, "message": message]
        if let code { error["code"] = code }
        if let param { error["param"] = param }
        if let declineCode { error["decline_code"] = declineCode }
        if let intent { error["payment_intent"] = try! JSONSerialization.jsonObject(with: Data(json(intent).utf8)) }
        let body = try! JSONSerialization.data(withJSONObject: ["error": error], options: [.sortedKeys])
        return Answer(status: status, body: String(decoding: body, as: UTF8.self))
    }

    private static func error(_ status: Int, type: String, code: String?, message: String) -> Response {
        response(errorAnswer(status, type: type, code: code, message: message))
    }

    private static func response(_ answer: Answer) -> Response {
        Response(
            status: .init(code: answer.status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: answer.body)))
    }

    static func parse(_ body: String) -> [String: String] {
        var form: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
            }
            form[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        return form
    }
}
