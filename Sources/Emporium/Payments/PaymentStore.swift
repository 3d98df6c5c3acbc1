import EmporiumCore
import EmporiumStorage
import Foundation

/// The `payments` and `refunds` tables: the only code that writes them. Amounts move by
/// conditional UPDATEs, so concurrent captures and refunds can never take more than there is.
struct PaymentStore: Sendable {
    func insert(_ payment: Payment, at now: Date, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO payments (id, order_id, provider, status, currency, amount, created_at, updated_at)
            VALUES (\(payment.id), \(payment.orderID), \(payment.provider), 'pending', \(payment.currency.code), \(payment.amount),
                    \(now), \(now))
            """)
    }

    func payment(_ id: ID<Payment>, on db: any SQLExecutor) async throws -> Payment? {
        try await db.queryFirst("SELECT * FROM payments WHERE id = \(id)").map(Self.decodePayment)
    }

    /// Records what the provider did with a pending payment: authorized, and captured too when
    /// `captured`. Answers the payment as it now is; nil when it was no longer pending.
    func recordAuthorization(
        _ payment: ID<Payment>, reference: String, captured: Bool, at now: Date, on db: any SQLExecutor
    ) async throws -> Payment? {
        try await db.queryFirst("""
            UPDATE payments SET status = \(captured ? "captured" : "authorized"), provider_reference = \(reference),
                authorized = amount, captured = CASE WHEN \(captured) THEN amount ELSE 0 END,
                captured_at = \(captured ? now : nil), updated_at = \(now)
            WHERE id = \(payment) AND status = 'pending' RETURNING *
            """).map(Self.decodePayment)
    }

    /// The payment with its order's status, in one read: what deciding whether to capture needs.
    func paymentWithOrderStatus(_ id: ID<Payment>, on db: any SQLExecutor) async throws -> (Payment, OrderStatus)? {
        guard let row = try await db.queryFirst("""
            SELECT p.*, o.status AS order_status FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.id = \(id)
            """)
        else { return nil }
        return (try Self.decodePayment(row), try OrderStore.status(row, column: "order_status"))
    }

    /// Records a capture of the whole authorization; false when it was not authorized.
    /// Records a capture of `amount` (at most what was authorized; less is a partial capture).
    func recordCapture(_ payment: ID<Payment>, amount: Int64, at now: Date, on db: any SQLExecutor) async throws -> Bool {
        try await db.queryFirst("""
            UPDATE payments SET status = 'captured', captured = \(amount), captured_at = \(now), updated_at = \(now)
            WHERE id = \(payment) AND status = 'authorized' AND \(amount) <= authorized RETURNING id
            """) != nil
    }

    func recordVoid(_ payment: ID<Payment>, at now: Date, on db: any SQLExecutor) async throws -> Bool {
        try await db.queryFirst("""
            UPDATE payments SET status = 'voided', updated_at = \(now) WHERE id = \(payment) AND status = 'authorized' RETURNING id
            """) != nil
    }

    /// Marks a pending payment failed: its id, or nil when it was no longer pending.
    func recordPaymentFailure(of order: ID<Order>, code: String, at now: Date, on db: any SQLExecutor) async throws -> ID<Payment>? {
        try await db.queryFirst("""
            UPDATE payments SET status = 'failed', failure_code = \(code), updated_at = \(now)
            WHERE order_id = \(order) AND status = 'pending' RETURNING id
            """)?.decode("id")
    }

    /// Takes `amount` from the payment's refundable balance and records a pending refund for
    /// it, in one conditional UPDATE, so concurrent refunds never add up to more than was
    /// captured. `nil` when the balance is too small.
    func reserveRefund(
        _ id: ID<Refund>, of order: ID<Order>, amount: Int64, reason: String?, requestKey: String?, at now: Date,
        on db: any SQLExecutor
    ) async throws -> (Payment, Refund)? {
        guard let row = try await db.queryFirst("""
            UPDATE payments SET refunded = refunded + \(amount), updated_at = \(now)
            WHERE order_id = \(order) AND refunded + \(amount) <= captured RETURNING *
            """)
        else { return nil }
        let payment = try Self.decodePayment(row)
        try await db.execute("""
            INSERT INTO refunds (id, payment_id, order_id, amount, reason, status, created_at, updated_at, request_key)
            VALUES (\(id), \(payment.id), \(order), \(amount), \(reason), 'pending', \(now), \(now), \(requestKey))
            """)
        return (payment, Refund(
            id: id, paymentID: payment.id, orderID: order, amount: amount, reason: reason, status: .pending,
            providerReference: nil, createdAt: now, requestKey: requestKey))
    }

    /// Records what the provider did for a payment we had given up and what undid it: an
    /// authorization that was voided, or a capture that was refunded (with its refund row), so
    /// that our books match the provider's.
    func recordRelease(
        _ payment: Payment, reference: String, refund: (id: ID<Refund>, reference: String)?, at now: Date, on db: any SQLExecutor
    ) async throws {
        if let refund {
            try await db.execute("""
                UPDATE payments SET provider_reference = \(reference), authorized = amount, captured = amount, refunded = amount,
                    captured_at = \(now), updated_at = \(now)
                WHERE id = \(payment.id) AND captured = 0
                """)
            try await db.execute("""
                INSERT INTO refunds (id, payment_id, order_id, amount, reason, status, provider_reference, created_at, updated_at,
                                     request_key)
                VALUES (\(refund.id), \(payment.id), \(payment.orderID), \(payment.amount), 'released', 'succeeded',
                        \(refund.reference), \(now), \(now), 'release')
                ON CONFLICT DO NOTHING
                """)
        } else {
            try await db.execute("""
                UPDATE payments SET status = 'voided', provider_reference = \(reference), authorized = amount, updated_at = \(now)
                WHERE id = \(payment.id) AND status = 'failed'
                """)
        }
    }

    func refund(_ id: ID<Refund>, on db: any SQLExecutor) async throws -> Refund? {
        try await db.queryFirst("SELECT * FROM refunds WHERE id = \(id)").map(Self.decodeRefund)
    }

    /// The refund an earlier attempt of a request with this key made.
    func refund(requestKey: String, of order: ID<Order>, on db: any SQLExecutor) async throws -> Refund? {
        try await db.queryFirst("SELECT * FROM refunds WHERE order_id = \(order) AND request_key = \(requestKey)")
            .map(Self.decodeRefund)
    }

    /// Marks a pending refund paid out; false when it was no longer pending.
    func recordRefundSucceeded(_ id: ID<Refund>, reference: String, at now: Date, on db: any SQLExecutor) async throws -> Bool {
        try await db.queryFirst("""
            UPDATE refunds SET status = 'succeeded', provider_reference = \(reference), updated_at = \(now)
            WHERE id = \(id) AND status = 'pending' RETURNING id
            """) != nil
    }

    /// Marks a pending refund refused and gives its amount back to the refundable balance.
    func recordRefundFailed(_ refund: Refund, at now: Date, on db: any SQLExecutor) async throws -> Bool {
        guard try await db.queryFirst("""
            UPDATE refunds SET status = 'failed', updated_at = \(now) WHERE id = \(refund.id) AND status = 'pending' RETURNING id
            """) != nil
        else { return false }
        try await db.execute("UPDATE payments SET refunded = refunded - \(refund.amount), updated_at = \(now) WHERE id = \(refund.paymentID)")
        return true
    }

    func payment(of order: ID<Order>, on db: any SQLExecutor) async throws -> Payment? {
        try await db.queryFirst("SELECT * FROM payments WHERE order_id = \(order)").map(Self.decodePayment)
    }

    /// The payments of a page of orders, in one query rather than one per order.
    func payments(of orders: [Order], on db: any SQLExecutor) async throws -> [ID<Order>: Payment] {
        guard !orders.isEmpty else { return [:] }
        let ids = SQL.joined(orders.map { "\($0.id)" }, separator: ", ")
        var payments: [ID<Order>: Payment] = [:]
        for row in try await db.query("SELECT * FROM payments WHERE order_id IN (\(ids))") {
            let payment = try Self.decodePayment(row)
            payments[payment.orderID] = payment
        }
        return payments
    }

    func refunds(of order: ID<Order>, on db: any SQLExecutor) async throws -> [Refund] {
        try await db.query("SELECT * FROM refunds WHERE order_id = \(order) ORDER BY id").map(Self.decodeRefund)
    }

    static func decodePayment(_ row: SQLRow) throws -> Payment {
        Payment(
            id: try row.decode("id"), orderID: try row.decode("order_id"), provider: try row.decode("provider"),
            providerReference: try row.decode("provider_reference"),
            status: Payment.Status(rawValue: try row.decode("status")) ?? .failed,
            currency: try OrderStore.currency(row), amount: try row.decode("amount"), authorized: try row.decode("authorized"),
            captured: try row.decode("captured"), refunded: try row.decode("refunded"),
            failureCode: try row.decode("failure_code"), capturedAt: try row.decode("captured_at"))
    }

    static func decodeRefund(_ row: SQLRow) throws -> Refund {
        Refund(
            id: try row.decode("id"), paymentID: try row.decode("payment_id"), orderID: try row.decode("order_id"),
            amount: try row.decode("amount"), reason: try row.decode("reason"),
            status: Refund.Status(rawValue: try row.decode("status")) ?? .failed,
            providerReference: try row.decode("provider_reference"), createdAt: try row.decode("created_at"),
            requestKey: try row.decode("request_key"))
    }
}
