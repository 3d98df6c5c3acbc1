public import EmporiumCore

/// A payment service provider as checkout and the order desk see it. Card data never reaches
/// Emporium: clients tokenise with the provider and send the token.
///
/// Every call carries an idempotency key derived from Emporium's own ids (`authorize-<payment
/// id>`, `refund-<refund id>`…), so a call retried after a timeout or a crash can never charge,
/// capture or refund twice: the provider answers the retry with the first call's result.
public protocol PaymentProvider: Sendable {
    /// The name clients send as `payment.provider` and orders record.
    var name: String { get }

    /// Reserves `amount` on the customer's means of payment: authorized (with the provider's
    /// reference), or waiting for the customer to act (3-D Secure) before it can be.
    func authorize(amount: Money, token: String, idempotencyKey: String) async throws(PaymentFailure) -> AuthorizeOutcome
    /// Takes `amount` (at most what was authorized) of an authorization.
    func capture(reference: String, amount: Money, idempotencyKey: String) async throws(PaymentFailure)
    /// Gives back `amount` of what was captured; returns the refund's reference.
    func refund(reference: String, amount: Money, idempotencyKey: String) async throws(PaymentFailure) -> String
    /// Releases an authorization that was not captured.
    func void(reference: String, idempotencyKey: String) async throws(PaymentFailure)
    /// What became of the call made with `idempotencyKey`, or `nil` when the provider never
    /// received it. Reconciliation asks this after a timeout or a crash, before it decides
    /// whether an order was paid. `amount` is the payment's, and `reference` the provider's
    /// reference when Emporium knows it: a provider that cannot search by key uses them to ask.
    func lookup(idempotencyKey: String, amount: Money, reference: String?) async throws(PaymentFailure) -> ProviderRecord?
}

/// What an authorization came to.
public enum AuthorizeOutcome: Sendable, Equatable {
    /// The amount is reserved; `reference` names the authorization at the provider.
    case authorized(reference: String)
    /// The customer has to act first (3-D Secure): the client uses `clientSecret` with the
    /// provider's own library to show `nextAction` (the provider's JSON, passed on as it is).
    /// The provider reports the outcome later (its webhook, or a lookup).
    case requiresAction(reference: String, clientSecret: String, nextAction: String)

    public var reference: String {
        switch self {
        case .authorized(let reference), .requiresAction(let reference, _, _): reference
        }
    }
}

/// The outcome a provider recorded for one call.
public enum ProviderRecord: Sendable, Equatable {
    /// It took effect; `reference` is what the call returned (the authorization or refund id).
    case succeeded(reference: String)
    /// It was refused (`card_declined`, `insufficient_funds`, …).
    case failed(code: String)
    /// An authorization still waiting for the customer (3-D Secure) or for the provider.
    case awaitingAction(reference: String)
}

/// Why a provider call did not succeed.
public enum PaymentFailure: Error, Sendable, Equatable {
    /// The provider said no; `code` is its reason (`card_declined`, `insufficient_funds`).
    case declined(code: String)
    /// No answer in time, or the provider failed on its side (5xx): whether the call took
    /// effect is unknown until it is looked up or retried with the same idempotency key.
    case timeout
    /// The provider refused the request itself (unknown reference, amount too large).
    case rejected(String)
}

/// The providers this node can use, by name.
struct PaymentProviders: Sendable {
    private let byName: [String: any PaymentProvider]

    init(_ providers: [any PaymentProvider]) {
        byName = Dictionary(providers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    subscript(name: String) -> (any PaymentProvider)? { byName[name] }

    var names: [String] { byName.keys.sorted() }
}
