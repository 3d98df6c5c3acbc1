public import EmporiumCore
import Foundation
import Synchronization

/// The built-in `test` provider: a stand-in for a card processor, for development and tests.
/// `tok_visa` and `tok_mastercard` are approved; `tok_chargeDeclined` and
/// `tok_insufficientFunds` are declined; `tok_timeout` behaves as a provider that did not answer
/// in time. It keeps its ledger in memory and honours idempotency keys like a real provider:
/// a repeated key returns the first call's result and moves no money.
public final class TestPaymentProvider: PaymentProvider {
    public let name = "test"

    struct Authorization {
        var amount: Int64
        var captured: Int64 = 0
        var refunded: Int64 = 0
        var voided = false
    }

    struct State {
        var authorizations: [String: Authorization] = [:]
        /// The result of every call by idempotency key.
        var results: [String: Result<String, PaymentFailure>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// How many authorizations moved money (repeats of a key not counted). For tests.
    public var authorizationCount: Int { state.withLock { $0.authorizations.count } }

    public func authorize(amount: Money, token: String, idempotencyKey: String) async throws(PaymentFailure) -> String {
        try once(idempotencyKey) { state in
            switch token {
            case "tok_visa", "tok_mastercard":
                let reference = "test_auth_" + UUID().uuidString.lowercased()
                state.authorizations[reference] = Authorization(amount: amount.minorUnits)
                return .success(reference)
            case "tok_chargeDeclined": return .failure(.declined(code: "card_declined"))
            case "tok_insufficientFunds": return .failure(.declined(code: "insufficient_funds"))
            case "tok_timeout": return .failure(.timeout)
            default: return .failure(.rejected("unknown test token"))
            }
        }
    }

    public func capture(reference: String, amount: Money, idempotencyKey: String) async throws(PaymentFailure) {
        _ = try once(idempotencyKey) { state in
            guard var authorization = state.authorizations[reference], !authorization.voided,
                authorization.captured + amount.minorUnits <= authorization.amount
            else { return .failure(.rejected("nothing to capture")) }
            authorization.captured += amount.minorUnits
            state.authorizations[reference] = authorization
            return .success(reference)
        }
    }

    public func refund(reference: String, amount: Money, idempotencyKey: String) async throws(PaymentFailure) -> String {
        try once(idempotencyKey) { state in
            guard var authorization = state.authorizations[reference],
                authorization.refunded + amount.minorUnits <= authorization.captured
            else { return .failure(.rejected("refund exceeds what was captured")) }
            authorization.refunded += amount.minorUnits
            state.authorizations[reference] = authorization
            return .success("test_refund_" + UUID().uuidString.lowercased())
        }
    }

    public func void(reference: String, idempotencyKey: String) async throws(PaymentFailure) {
        _ = try once(idempotencyKey) { state in
            guard var authorization = state.authorizations[reference], authorization.captured == 0 else {
                return .failure(.rejected("nothing to void"))
            }
            authorization.voided = true
            state.authorizations[reference] = authorization
            return .success(reference)
        }
    }

    private func once(
        _ key: String, _ body: (inout State) -> Result<String, PaymentFailure>
    ) throws(PaymentFailure) -> String {
        let result = state.withLock { state in
            if let earlier = state.results[key] { return earlier }
            let result = body(&state)
            // A timeout left nothing behind, so the retry runs afresh.
            if result != .failure(.timeout) { state.results[key] = result }
            return result
        }
        return try result.get()
    }
}
