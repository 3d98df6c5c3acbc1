import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes

/// The order tables: orders, their lines and fulfilments. Payments and refunds are
/// `PaymentStore`'s.
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

    /// Inserts the order with its lines; a guest's order with its access token (its digest,
    /// and a sealed copy for the confirmation e-mail: `OrderStore+Access.swift`).
    func insert(
        _ order: Order, lines: [OrderLine], checkoutKey: String?, accessToken: String? = nil, on db: any SQLExecutor
    ) async throws {
        let sealed = try cipher.seal(CatalogStore.json(order.shippingAddress), context: Self.addressContext(order.id.description))
        let accessHash = accessToken.map(SecretToken.digest)
        let accessSealed = try accessToken.map { try cipher.seal($0, context: Self.accessContext(order.id)) }
        let insertOrder: SQL = """
            INSERT INTO orders (id, number, cart_id, user_id, email, currency, status, subtotal, discount, shipping, tax, total,
                                tax_included, discount_id, discount_code, shipping_method_id, shipping_method_name,
                                shipping_address, shipping_country, shipping_region, reservation_expires_at, version,
                                created_at, updated_at, checkout_key, access_token_hash, access_token_sealed)
            VALUES (\(order.id), \(order.number), \(order.cartID), \(order.userID), \(order.email), \(order.currency.code),
                    \(order.status.rawValue), \(order.subtotal), \(order.discount), \(order.shipping), \(order.tax),
                    \(order.total), \(order.taxIncluded), \(order.discountID), \(order.discountCode), \(order.shippingMethodID),
                    \(order.shippingMethodName), \(sealed), \(order.shippingAddress.country), \(order.shippingAddress.region),
                    \(order.reservationExpiresAt), 1, \(order.createdAt), \(order.updatedAt), \(checkoutKey),
                    \(accessHash), \(accessSealed))
            """
        // Checkout refuses an empty cart; an order without lines would still be an order.
        guard !lines.isEmpty else { return try await db.execute(insertOrder) }
        // All lines in one statement: a checkout's round trips are its cost.
        let values = lines.map { line -> SQL in
            """
            (\(line.id), \(order.id), \(line.position), \(line.variantID), \(line.productID), \(line.sku), \(line.title),
             \(line.quantity), \(line.unitPrice), \(line.subtotal), \(line.discount), \(line.tax), \(line.reservedLocationID), 0)
            """
        }
        let insertLines: SQL = """
            INSERT INTO order_lines (id, order_id, position, variant_id, product_id, sku, title, quantity, unit_price, subtotal,
                                     discount, tax, reserved_location_id, fulfilled_quantity)
            VALUES \(SQL.joined(values, separator: ", "))
            """
        // On PostgreSQL the order and its lines are one statement (a data-modifying CTE; the
        // lines' foreign key to the order is checked when the statement ends, the order in
        // place). SQLite has no such CTEs, and no round trips to save.
        guard db.dialect == .postgres else {
            try await db.execute(insertOrder)
            return try await db.execute(insertLines)
        }
        try await db.execute("WITH inserted_order AS (\(insertOrder)) \(insertLines)")
    }

    func find(_ id: ID<Order>, on db: any SQLExecutor) async throws -> Order? {
        try await db.queryFirst("SELECT * FROM orders WHERE id = \(id)").map(decode)
    }

    /// The customer's own order; anyone else's is as absent as a missing one.
    func find(_ id: ID<Order>, of user: ID<User>, on db: any SQLExecutor) async throws -> Order? {
        try await db.queryFirst("SELECT * FROM orders WHERE id = \(id) AND user_id = \(user)").map(decode)
    }

    /// The order, its row locked until the transaction ends (PostgreSQL; SQLite's single
    /// writer already excludes every other change). Taken first by every transaction that
    /// changes an order together with its payment or stock, so that they queue on the order
    /// instead of deadlocking on each other's rows.
    func findLocked(_ id: ID<Order>, on db: any SQLExecutor) async throws -> Order? {
        let lock: SQL = db.dialect == .postgres ? " FOR UPDATE" : ""
        return try await db.queryFirst("SELECT * FROM orders WHERE id = \(id)\(lock)").map(decode)
    }

    /// Locks the order's row until the transaction ends, on PostgreSQL (SQLite's single writer
    /// needs no row locks). See `findLocked`.
    func lock(_ id: ID<Order>, on db: any SQLExecutor) async throws {
        guard db.dialect == .postgres else { return }
        try await db.execute("SELECT id FROM orders WHERE id = \(id) FOR UPDATE")
    }

    /// Which orders a list shows; newest first.
    struct Filter: Sendable {
        var customer: ID<User>?
        /// Orders in any of these states; every state when empty.
        var statuses: [OrderStatus] = []
        var number: Int64?
        /// Created at or after.
        var from: Date?
        /// Created before.
        var to: Date?
        /// The order id a page continues below.
        var before: String?
        /// Pending orders whose reservation ran out by then.
        var reservationExpiredBy: Date?
        var limit: Int
    }

    /// Up to `limit + 1` orders, as `Page` expects.
    func list(_ filter: Filter, on db: any SQLExecutor) async throws -> [Order] {
        var conditions: [SQL] = []
        if let customer = filter.customer { conditions.append("user_id = \(customer)") }
        if let before = filter.before { conditions.append("id < \(before)") }
        if !filter.statuses.isEmpty {
            conditions.append("status IN (" + SQL.joined(filter.statuses.map { status -> SQL in "\(status.rawValue)" }, separator: ", ") + ")")
        }
        if let number = filter.number { conditions.append("number = \(number)") }
        if let from = filter.from { conditions.append("created_at >= \(from)") }
        if let to = filter.to { conditions.append("created_at < \(to)") }
        if let expiry = filter.reservationExpiredBy {
            conditions.append("status = 'pending'")
            conditions.append("reservation_expires_at <= \(expiry)")
        }
        let clause: SQL = conditions.isEmpty ? "" : "WHERE " + SQL.joined(conditions, separator: " AND ")
        return try await db.query("SELECT * FROM orders \(clause) ORDER BY id DESC LIMIT \(filter.limit + 1)").map(decode)
    }

    // MARK: Fulfilments

    func insertFulfillment(
        _ id: ID<Fulfillment>, of order: ID<Order>, from location: ID<StockLocation>, carrier: String?, trackingNumber: String?,
        at now: Date, on db: any SQLExecutor
    ) async throws {
        try await db.execute("""
            INSERT INTO fulfillments (id, order_id, location_id, carrier, tracking_number, created_at)
            VALUES (\(id), \(order), \(location), \(carrier), \(trackingNumber), \(now))
            """)
    }

    /// Adds shipped units to a line and to the fulfilment; false (and nothing written) when
    /// that would ship more than the line ordered.
    func fulfil(
        _ quantity: Int64, of line: ID<OrderLine>, in fulfillment: ID<Fulfillment>, on db: any SQLExecutor
    ) async throws -> Bool {
        guard try await db.queryFirst("""
            UPDATE order_lines SET fulfilled_quantity = fulfilled_quantity + \(quantity)
            WHERE id = \(line) AND fulfilled_quantity + \(quantity) <= quantity RETURNING id
            """) != nil
        else { return false }
        try await db.execute("""
            INSERT INTO fulfillment_lines (fulfillment_id, order_line_id, quantity) VALUES (\(fulfillment), \(line), \(quantity))
            """)
        return true
    }

    /// Units of the order not shipped yet.
    func outstanding(of order: ID<Order>, on db: any SQLExecutor) async throws -> Int64 {
        try await db.queryFirst("""
            SELECT CAST(COALESCE(SUM(quantity - fulfilled_quantity), 0) AS BIGINT) AS n FROM order_lines WHERE order_id = \(order)
            """)?.decode("n") ?? 0
    }

    func lines(of order: ID<Order>, on db: any SQLExecutor) async throws -> [OrderLine] {
        try await db.query("SELECT * FROM order_lines WHERE order_id = \(order) ORDER BY position").map(Self.decodeLine)
    }

    /// The lines of a page of orders, in one query rather than one per order.
    func lines(of orders: [Order], on db: any SQLExecutor) async throws -> [ID<Order>: [OrderLine]] {
        guard !orders.isEmpty else { return [:] }
        let ids = SQL.joined(orders.map { "\($0.id)" }, separator: ", ")
        var lines: [ID<Order>: [OrderLine]] = [:]
        for row in try await db.query("SELECT * FROM order_lines WHERE order_id IN (\(ids)) ORDER BY order_id, position") {
            lines[try row.decode("order_id"), default: []].append(try Self.decodeLine(row))
        }
        return lines
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
        try await !transition(id, from: from, through: events, at: now, extra: extra, returning: "id", on: db).isEmpty
    }

    /// `transition`, answering the order as it leaves it (nil when another request moved it
    /// first), so that the caller needs no read after the write.
    func transitioned(
        _ id: ID<Order>, from: OrderStatus, through events: [OrderEvent], at now: Date, extra: SQL = "", on db: any SQLExecutor
    ) async throws -> Order? {
        try await transition(id, from: from, through: events, at: now, extra: extra, returning: "*", on: db).first.map(decode)
    }

    private func transition(
        _ id: ID<Order>, from: OrderStatus, through events: [OrderEvent], at now: Date, extra: SQL, returning: SQL,
        on db: any SQLExecutor
    ) async throws -> [SQLRow] {
        var next = from
        for event in events { next = try next.applying(event) }
        return try await db.query("""
            UPDATE orders SET status = \(next.rawValue), version = version + 1, updated_at = \(now)\(extra)
            WHERE id = \(id) AND status = \(from.rawValue) RETURNING \(returning)
            """)
    }

    /// The order an earlier attempt of a checkout made from this cart with this key.
    func order(checkoutKey: String, cart: ID<Cart>, on db: any SQLExecutor) async throws -> Order? {
        try await db.queryFirst("SELECT * FROM orders WHERE checkout_key = \(checkoutKey) AND cart_id = \(cart)").map(decode)
    }

    static func currency(_ row: SQLRow) throws -> Currency {
        let code: String = try row.decode("currency")
        guard let currency = Currency(code: code) else {
            throw DatabaseError.decoding(column: "currency", expected: "ISO 4217 code", found: code)
        }
        return currency
    }

    static func status(_ row: SQLRow, column: String = "status") throws -> OrderStatus {
        let text: String = try row.decode(column)
        guard let status = OrderStatus(rawValue: text) else {
            throw DatabaseError.decoding(column: column, expected: "order status", found: text)
        }
        return status
    }

    func decode(_ row: SQLRow) throws -> Order {
        let id: ID<Order> = try row.decode("id")
        let status = try Self.status(row)
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
