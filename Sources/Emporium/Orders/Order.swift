import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes

/// An order: what a checkout bought, at the prices, discount, shipping and tax it was charged,
/// with the address it goes to. Nothing in it follows later catalog changes.
struct Order: Sendable {
    let id: ID<Order>
    let number: Int64
    let cartID: ID<Cart>
    let userID: ID<User>?
    let email: String
    let currency: Currency
    var status: OrderStatus
    let subtotal: Int64
    let discount: Int64
    let shipping: Int64
    let tax: Int64
    let total: Int64
    let taxIncluded: Bool
    let discountID: ID<Discount>?
    let discountCode: String?
    let shippingMethodID: ID<ShippingMethod>?
    let shippingMethodName: String
    let shippingAddress: AddressFields
    var reservationExpiresAt: Date?
    var placedAt: Date?
    var cancelledAt: Date?
    var cancelReason: String?
    var version: Int64
    let createdAt: Date
    var updatedAt: Date

    /// `#1001`: how people name an order.
    var displayNumber: String { "#\(number)" }
}

struct OrderLine: Sendable {
    let id: ID<OrderLine>
    let position: Int64
    let variantID: ID<Variant>
    let productID: ID<Product>
    let sku: String
    let title: String
    let quantity: Int64
    let unitPrice: Int64
    let subtotal: Int64
    let discount: Int64
    let tax: Int64
    /// Where the line's stock is held; nil for a back-ordered line.
    let reservedLocationID: ID<StockLocation>?
    var fulfilledQuantity: Int64

    var outstanding: Int64 { quantity - fulfilledQuantity }
}

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

/// The order tables: orders, lines, payments and refunds.
struct OrderStore: Sendable {
    let cipher: FieldCipher

    static func addressContext(_ id: String) -> String { "orders.shipping_address:\(id)" }

    /// The next human order number: a sequence on PostgreSQL (never waits, may skip a number
    /// when a checkout rolls back); on SQLite, where the single writer already orders every
    /// checkout, one more than the largest.
    func nextNumber(on db: any SQLExecutor) async throws -> Int64 {
        let sql: SQL = db.dialect == .postgres
            ? "SELECT nextval('order_numbers') AS n"
            : "SELECT COALESCE(MAX(number), 1000) + 1 AS n FROM orders"
        guard let row = try await db.queryFirst(sql) else { throw Problem.internalError }
        return try row.decode("n")
    }

    func insert(
        _ order: Order, lines: [OrderLine], payment: Payment, checkoutKey: String?, at now: Date, on db: any SQLExecutor
    ) async throws {
        let sealed = try cipher.seal(CatalogStore.json(order.shippingAddress), context: Self.addressContext(order.id.description))
        try await db.execute("""
            INSERT INTO orders (id, number, cart_id, user_id, email, currency, status, subtotal, discount, shipping, tax, total,
                                tax_included, discount_id, discount_code, shipping_method_id, shipping_method_name,
                                shipping_address, shipping_country, shipping_region, reservation_expires_at, version,
                                created_at, updated_at, checkout_key)
            VALUES (\(order.id), \(order.number), \(order.cartID), \(order.userID), \(order.email), \(order.currency.code),
                    \(order.status.rawValue), \(order.subtotal), \(order.discount), \(order.shipping), \(order.tax),
                    \(order.total), \(order.taxIncluded), \(order.discountID), \(order.discountCode), \(order.shippingMethodID),
                    \(order.shippingMethodName), \(sealed), \(order.shippingAddress.country), \(order.shippingAddress.region),
                    \(order.reservationExpiresAt), 1, \(order.createdAt), \(order.updatedAt), \(checkoutKey))
            """)
        // One statement for all lines: a checkout's round trips are its cost.
        let values = lines.map { line -> SQL in
            """
            (\(line.id), \(order.id), \(line.position), \(line.variantID), \(line.productID), \(line.sku), \(line.title),
             \(line.quantity), \(line.unitPrice), \(line.subtotal), \(line.discount), \(line.tax), \(line.reservedLocationID), 0)
            """
        }
        try await db.execute("""
            INSERT INTO order_lines (id, order_id, position, variant_id, product_id, sku, title, quantity, unit_price, subtotal,
                                     discount, tax, reserved_location_id, fulfilled_quantity)
            VALUES \(SQL.joined(values, separator: ", "))
            """)
        try await db.execute("""
            INSERT INTO payments (id, order_id, provider, status, currency, amount, created_at, updated_at)
            VALUES (\(payment.id), \(order.id), \(payment.provider), 'pending', \(payment.currency.code), \(payment.amount),
                    \(now), \(now))
            """)
    }

    func find(_ id: ID<Order>, on db: any SQLExecutor) async throws -> Order? {
        try await db.queryFirst("SELECT * FROM orders WHERE id = \(id)").map(decode)
    }

    /// The customer's own order; anyone else's is as absent as a missing one.
    func find(_ id: ID<Order>, of user: ID<User>, on db: any SQLExecutor) async throws -> Order? {
        try await db.queryFirst("SELECT * FROM orders WHERE id = \(id) AND user_id = \(user)").map(decode)
    }

    func list(where conditions: [SQL], limit: Int, on db: any SQLExecutor) async throws -> [Order] {
        let filter: SQL = conditions.isEmpty ? "" : "WHERE " + SQL.joined(conditions, separator: " AND ")
        return try await db.query("SELECT * FROM orders \(filter) ORDER BY id DESC LIMIT \(limit + 1)").map(decode)
    }

    func lines(of order: ID<Order>, on db: any SQLExecutor) async throws -> [OrderLine] {
        try await db.query("SELECT * FROM order_lines WHERE order_id = \(order) ORDER BY position").map(Self.decodeLine)
    }

    /// The lines and payments of a page of orders, in two queries rather than two per order.
    func details(of orders: [Order], on db: any SQLExecutor) async throws -> (lines: [ID<Order>: [OrderLine]], payments: [ID<Order>: Payment]) {
        guard !orders.isEmpty else { return ([:], [:]) }
        let ids = SQL.joined(orders.map { "\($0.id)" }, separator: ", ")
        var lines: [ID<Order>: [OrderLine]] = [:]
        for row in try await db.query("SELECT * FROM order_lines WHERE order_id IN (\(ids)) ORDER BY order_id, position") {
            lines[try row.decode("order_id"), default: []].append(try Self.decodeLine(row))
        }
        var payments: [ID<Order>: Payment] = [:]
        for row in try await db.query("SELECT * FROM payments WHERE order_id IN (\(ids))") {
            let payment = try Self.decodePayment(row)
            payments[payment.orderID] = payment
        }
        return (lines, payments)
    }

    static let notFound = Problem.notFound("There is no such order.")
    static let changed = Problem(
        .conflict, slug: "order-changed", title: "Order changed", detail: "The order changed meanwhile; read it and try again.")

    static func decodeLine(_ row: SQLRow) throws -> OrderLine {
        OrderLine(
            id: try row.decode("id"), position: try row.decode("position"), variantID: try row.decode("variant_id"),
            productID: try row.decode("product_id"), sku: try row.decode("sku"), title: try row.decode("title"),
            quantity: try row.decode("quantity"), unitPrice: try row.decode("unit_price"),
            subtotal: try row.decode("subtotal"), discount: try row.decode("discount"), tax: try row.decode("tax"),
            reservedLocationID: try row.decode("reserved_location_id"),
            fulfilledQuantity: try row.decode("fulfilled_quantity"))
    }

    /// Moves the order along the state machine (through each event in turn) if it is still in
    /// `from`; false when another request moved it first.
    func transition(
        _ id: ID<Order>, from: OrderStatus, by events: OrderEvent..., at now: Date, extra: SQL = "", on db: any SQLExecutor
    ) async throws -> Bool {
        try await transition(id, from: from, through: events, at: now, extra: extra, on: db)
    }

    func transition(
        _ id: ID<Order>, from: OrderStatus, through events: [OrderEvent], at now: Date, extra: SQL = "", on db: any SQLExecutor
    ) async throws -> Bool {
        var next = from
        for event in events { next = try next.applying(event) }
        return try await !db.query("""
            UPDATE orders SET status = \(next.rawValue), version = version + 1, updated_at = \(now)\(extra)
            WHERE id = \(id) AND status = \(from.rawValue) RETURNING id
            """).isEmpty
    }

    /// The order an earlier attempt of a checkout made from this cart with this key.
    func order(checkoutKey: String, cart: ID<Cart>, on db: any SQLExecutor) async throws -> Order? {
        try await db.queryFirst("SELECT * FROM orders WHERE checkout_key = \(checkoutKey) AND cart_id = \(cart)").map(decode)
    }

    // MARK: Payments and refunds

    func payment(_ id: ID<Payment>, on db: any SQLExecutor) async throws -> Payment? {
        try await db.queryFirst("SELECT * FROM payments WHERE id = \(id)").map(Self.decodePayment)
    }

    /// Records what the provider did with a pending payment: authorized, and captured too when
    /// `captured`. False when the payment was no longer pending.
    func recordAuthorization(
        _ payment: ID<Payment>, reference: String, captured: Bool, at now: Date, on db: any SQLExecutor
    ) async throws -> Bool {
        try await db.queryFirst("""
            UPDATE payments SET status = \(captured ? "captured" : "authorized"), provider_reference = \(reference),
                authorized = amount, captured = CASE WHEN \(captured) THEN amount ELSE 0 END,
                captured_at = \(captured ? now : nil), updated_at = \(now)
            WHERE id = \(payment) AND status = 'pending' RETURNING id
            """) != nil
    }

    /// Records a capture of the whole authorization; false when it was not authorized.
    func recordCapture(_ payment: ID<Payment>, at now: Date, on db: any SQLExecutor) async throws -> Bool {
        try await db.queryFirst("""
            UPDATE payments SET status = 'captured', captured = authorized, captured_at = \(now), updated_at = \(now)
            WHERE id = \(payment) AND status = 'authorized' RETURNING id
            """) != nil
    }

    func recordVoid(_ payment: ID<Payment>, at now: Date, on db: any SQLExecutor) async throws -> Bool {
        try await db.queryFirst("""
            UPDATE payments SET status = 'voided', updated_at = \(now) WHERE id = \(payment) AND status = 'authorized' RETURNING id
            """) != nil
    }

    /// Marks a pending payment failed; false when it was no longer pending.
    func recordPaymentFailure(of order: ID<Order>, code: String, at now: Date, on db: any SQLExecutor) async throws -> Bool {
        try await db.queryFirst("""
            UPDATE payments SET status = 'failed', failure_code = \(code), updated_at = \(now)
            WHERE order_id = \(order) AND status = 'pending' RETURNING id
            """) != nil
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

    func refunds(of order: ID<Order>, on db: any SQLExecutor) async throws -> [Refund] {
        try await db.query("SELECT * FROM refunds WHERE order_id = \(order) ORDER BY id").map(Self.decodeRefund)
    }

    static func decodePayment(_ row: SQLRow) throws -> Payment {
        Payment(
            id: try row.decode("id"), orderID: try row.decode("order_id"), provider: try row.decode("provider"),
            providerReference: try row.decode("provider_reference"),
            status: Payment.Status(rawValue: try row.decode("status")) ?? .failed,
            currency: try currency(row), amount: try row.decode("amount"), authorized: try row.decode("authorized"),
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

    private static func currency(_ row: SQLRow) throws -> Currency {
        let code: String = try row.decode("currency")
        guard let currency = Currency(code: code) else {
            throw DatabaseError.decoding(column: "currency", expected: "ISO 4217 code", found: code)
        }
        return currency
    }

    private func decode(_ row: SQLRow) throws -> Order {
        let id: ID<Order> = try row.decode("id")
        let statusText: String = try row.decode("status")
        guard let status = OrderStatus(rawValue: statusText) else {
            throw DatabaseError.decoding(column: "status", expected: "order status", found: statusText)
        }
        let sealed: String = try row.decode("shipping_address")
        let address = try CatalogStore.fromJSON(try cipher.open(sealed, context: Self.addressContext(id.description)), as: AddressFields.self)
        return Order(
            id: id, number: try row.decode("number"), cartID: try row.decode("cart_id"), userID: try row.decode("user_id"),
            email: try row.decode("email"), currency: try Self.currency(row), status: status,
            subtotal: try row.decode("subtotal"), discount: try row.decode("discount"), shipping: try row.decode("shipping"),
            tax: try row.decode("tax"), total: try row.decode("total"), taxIncluded: try row.decode("tax_included"),
            discountID: try row.decode("discount_id"), discountCode: try row.decode("discount_code"),
            shippingMethodID: try row.decode("shipping_method_id"), shippingMethodName: try row.decode("shipping_method_name"),
            shippingAddress: address, reservationExpiresAt: try row.decode("reservation_expires_at"),
            placedAt: try row.decode("placed_at"), cancelledAt: try row.decode("cancelled_at"),
            cancelReason: try row.decode("cancel_reason"), version: try row.decode("version"),
            createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
    }
}
