import EmporiumCore
import Testing

@Suite struct OrderStatusTests {
    /// The whole state machine written out a second time, by hand: every status × every
    /// event, so that a changed transition fails here until it is changed on purpose.
    static let expected: [OrderStatus: [OrderEvent: OrderStatus]] = [
        .pending: [.paymentAuthorized: .authorized, .paymentFailed: .cancelled, .cancelled: .cancelled],
        .authorized: [.captured: .paid, .cancelled: .cancelled],
        .paid: [
            .partiallyFulfilled: .partiallyFulfilled, .fulfilled: .fulfilled, .cancelled: .cancelled,
            .partiallyRefunded: .partiallyRefunded, .refunded: .refunded,
        ],
        .partiallyFulfilled: [
            .partiallyFulfilled: .partiallyFulfilled, .fulfilled: .fulfilled, .partiallyRefunded: .partiallyRefunded,
            .refunded: .refunded,
        ],
        .fulfilled: [.delivered: .delivered, .partiallyRefunded: .partiallyRefunded, .refunded: .refunded],
        .delivered: [.partiallyRefunded: .partiallyRefunded, .refunded: .refunded],
        .partiallyRefunded: [.partiallyRefunded: .partiallyRefunded, .refunded: .refunded],
        .cancelled: [:],
        .refunded: [:],
    ]

    @Test(arguments: OrderStatus.allCases)
    func everyEventFromEveryStatus(status: OrderStatus) {
        for event in OrderEvent.allCases {
            if let next = Self.expected[status]?[event] {
                #expect((try? status.applying(event)) == next, "\(status) + \(event)")
            } else {
                #expect(throws: IllegalOrderTransition(status: status, event: event), "\(status) + \(event)") {
                    try status.applying(event)
                }
            }
        }
    }

    @Test func theHappyPathAndItsEnds() throws {
        var status = OrderStatus.pending
        for event: OrderEvent in [.paymentAuthorized, .captured, .partiallyFulfilled, .fulfilled, .delivered, .refunded] {
            status = try status.applying(event)
        }
        #expect(status == .refunded && status.isTerminal)
        #expect(OrderStatus.allCases.filter(\.isTerminal) == [.cancelled, .refunded])
        #expect(OrderStatus.allCases.filter(\.isCancellable) == [.pending, .authorized, .paid])
        // Nothing that has shipped can be cancelled, and cancellation agrees with the table.
        for status in OrderStatus.allCases {
            #expect(status.isCancellable == ((try? status.applying(.cancelled)) != nil), "\(status)")
        }
    }
}
