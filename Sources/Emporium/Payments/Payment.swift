import EmporiumCore
import Foundation

/// The money side of an order, as the provider has it.
struct Payment: Sendable {
    enum Status: String, Sendable {
        case pending, authorized, captured, voided, failed
    }

    let id: ID<Payment>
    let orderID: ID<Order>
    let provider: String
    var providerReference: String?
    var status: Status
    let currency: Currency
    let amount: Int64
    var authorized: Int64
    var captured: Int64
    var refunded: Int64
    var failureCode: String?
    var capturedAt: Date?
}

struct Refund: Sendable {
    enum Status: String, Sendable {
        case pending, succeeded, failed
    }

    let id: ID<Refund>
    let paymentID: ID<Payment>
    let orderID: ID<Order>
    let amount: Int64
    let reason: String?
    var status: Status
    var providerReference: String?
    let createdAt: Date
    /// The request that made it (`caller|key`), or `cancellation` for a cancelled order's.
    var requestKey: String? = nil
}
