/// Where an order stands. Payment moves it from pending to paid, fulfilment onwards to
/// delivered; it can be cancelled until something ships, and refunded once money was taken.
public enum OrderStatus: String, Sendable, Codable, CaseIterable {
    /// Created at checkout; stock reserved, payment not yet authorized.
    case pending
    /// The payment provider holds the money.
    case authorized
    /// Captured.
    case paid
    case partiallyFulfilled = "partially_fulfilled"
    case fulfilled
    case delivered
    case cancelled
    case partiallyRefunded = "partially_refunded"
    case refunded

    /// No event moves the order any further.
    public var isTerminal: Bool { self == .cancelled || self == .refunded }

    /// Nothing has shipped yet, so a cancellation can release all stock.
    public var isCancellable: Bool { [.pending, .authorized, .paid].contains(self) }
}

/// What happens to an order.
public enum OrderEvent: Sendable, Hashable, CaseIterable {
    case paymentAuthorized
    /// Declined, timed out or abandoned before authorization.
    case paymentFailed
    case captured
    /// Some lines shipped, more to come.
    case partiallyFulfilled
    /// The last lines shipped.
    case fulfilled
    case delivered
    case cancelled
    /// Part of what was captured went back.
    case partiallyRefunded
    /// All that was captured went back.
    case refunded
}

public struct IllegalOrderTransition: Error, Equatable, CustomStringConvertible {
    public let status: OrderStatus
    public let event: OrderEvent

    public init(status: OrderStatus, event: OrderEvent) {
        self.status = status
        self.event = event
    }

    public var description: String { "an order that is \(status.rawValue) cannot take \(event)" }
}

extension OrderStatus {
    /// The status after `event`, or the error naming why the event does not apply.
    public func applying(_ event: OrderEvent) throws(IllegalOrderTransition) -> OrderStatus {
        guard let next = Self.transitions[self]?[event] else { throw IllegalOrderTransition(status: self, event: event) }
        return next
    }

    /// Every legal move, in one table; anything not here is refused.
    static let transitions: [OrderStatus: [OrderEvent: OrderStatus]] = [
        .pending: [.paymentAuthorized: .authorized, .paymentFailed: .cancelled, .cancelled: .cancelled],
        .authorized: [.captured: .paid, .cancelled: .cancelled],
        .paid: [
            .partiallyFulfilled: .partiallyFulfilled, .fulfilled: .fulfilled, .cancelled: .cancelled,
            .partiallyRefunded: .partiallyRefunded, .refunded: .refunded,
        ],
        .partiallyFulfilled: [
            .partiallyFulfilled: .partiallyFulfilled, .fulfilled: .fulfilled,
            .partiallyRefunded: .partiallyRefunded, .refunded: .refunded,
        ],
        .fulfilled: [.delivered: .delivered, .partiallyRefunded: .partiallyRefunded, .refunded: .refunded],
        .delivered: [.partiallyRefunded: .partiallyRefunded, .refunded: .refunded],
        .partiallyRefunded: [.partiallyRefunded: .partiallyRefunded, .refunded: .refunded],
        .cancelled: [:],
        .refunded: [:],
    ]
}
