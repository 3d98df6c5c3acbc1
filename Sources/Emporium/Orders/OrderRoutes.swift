import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/orders`: customers read their own orders and cancel them before fulfilment.
struct OrderRoutes {
    let database: any Database
    let store: OrderStore
    let service: OrderService

    func register(on routes: RouteRegistrar) {
        routes.on(.get, "/v1/orders", access: .customer) { request, context in
            let page = try PageRequest(request)
            var conditions: [SQL] = ["user_id = \(context.user.id)"]
            if let after = page.after { conditions.append("id < \(after)") }
            let orders = try await store.list(where: conditions, limit: page.limit, on: database)
            return try await OrderResponse.page(orders, limit: page.limit, store: store, on: database)
        }
        routes.on(.get, "/v1/orders/:id", access: .customer) { _, context in
            let order = try await own(context)
            return try await OrderResponse.load(order, store: store, on: database)
        }
        routes.on(.post, "/v1/orders/:id/cancel", access: .customer) { _, context in
            let order = try await own(context)
            let cancelled = try await service.cancel(order.id, reason: "customer_request", actor: context.actor, origin: context.origin)
            return try await OrderResponse.load(cancelled, store: store, on: database)
        }
    }

    private func own(_ context: AuthenticatedContext) async throws -> Order {
        let id: ID<Order> = try context.base.pathID(notFound: "There is no such order.")
        guard let order = try await store.find(id, of: context.user.id, on: database) else { throw OrderStore.notFound }
        return order
    }
}

/// `/v1/admin/orders`: staff (or keys with orders:read / orders:write) list, read, capture,
/// refund, cancel and fulfil orders.
struct AdminOrderRoutes {
    let database: any Database
    let store: OrderStore
    let service: OrderService
    let inventory: InventoryStore
    let idempotency: Idempotency
    let audit: AuditLog
    let catalogCache: CatalogCache
    let clock: any WallClock
    let ids: any IDGenerator

    struct RefundInput: Codable, Sendable {
        var amount: Int64?
        var reason: String?
    }

    struct CancelInput: Codable, Sendable {
        var reason: String?
    }

    struct FulfillmentInput: Codable, Sendable {
        struct Line: Codable, Sendable {
            var lineID: String?
            var quantity: Int64?

            enum CodingKeys: String, CodingKey {
                case quantity
                case lineID = "line_id"
            }
        }

        var locationID: String?
        var lines: [Line]?
        var carrier: String?
        var trackingNumber: String?

        enum CodingKeys: String, CodingKey {
            case lines, carrier
            case locationID = "location_id"
            case trackingNumber = "tracking_number"
        }
    }

    struct FulfillmentResponse: ResponseEncodable, Sendable {
        struct Line: Encodable, Sendable {
            let lineID: String
            let quantity: Int64

            enum CodingKeys: String, CodingKey {
                case quantity
                case lineID = "line_id"
            }
        }

        let id: String
        let orderID: String
        let locationID: String
        @NullEncoded var carrier: String?
        @NullEncoded var trackingNumber: String?
        let lines: [Line]
        let orderStatus: String
        let createdAt: String

        enum CodingKeys: String, CodingKey {
            case id, carrier, lines
            case orderID = "order_id"
            case locationID = "location_id"
            case trackingNumber = "tracking_number"
            case orderStatus = "order_status"
            case createdAt = "created_at"
        }
    }

    func register(on routes: RouteRegistrar) {
        routes.on(.get, "/v1/admin/orders", access: .staff, orScope: .ordersRead) { request, _ in
            let page = try PageRequest(request)
            let conditions = try Self.filters(request, after: page.after)
            let orders = try await store.list(where: conditions, limit: page.limit, on: database)
            return try await OrderResponse.page(orders, limit: page.limit, store: store, on: database)
        }
        routes.on(.get, "/v1/admin/orders/:id", access: .staff, orScope: .ordersRead) { _, context in
            try await OrderResponse.load(try await find(context), store: store, on: database)
        }
        routes.on(.post, "/v1/admin/orders/:id/capture", access: .staff, orScope: .ordersWrite) { _, context in
            let order = try await find(context)
            let captured = try await service.capture(order.id)
            try await audit.record(.init(actor: context.actor, action: "order.captured", target: order.displayNumber, origin: context.origin), on: database)
            return try await OrderResponse.load(captured, store: store, on: database)
        }
        routes.on(.post, "/v1/admin/orders/:id/cancel", access: .staff, orScope: .ordersWrite) { request, context in
            let order = try await find(context)
            let input = request.headers[.contentType] == nil
                ? CancelInput() : try await request.decodeStrictJSON(as: CancelInput.self, context: context.base).value
            var errors = FieldErrors()
            errors.text(input.reason, "/reason", maximum: 200, required: false)
            try errors.check()
            let cancelled = try await service.cancel(order.id, reason: input.reason ?? "merchant_request", actor: context.actor, origin: context.origin)
            return try await OrderResponse.load(cancelled, store: store, on: database)
        }
        routes.on(.post, "/v1/admin/orders/:id/refunds", access: .staff, orScope: .ordersWrite) { request, context in
            guard let key = try Idempotency.key(of: request) else {
                throw Problem.validation([.init(parameter: "Idempotency-Key", detail: "is required for refunds")])
            }
            let order = try await find(context)
            let body = try await request.decodeStrictJSON(as: RefundInput.self, context: context.base)
            var errors = FieldErrors()
            if let amount = errors.required(body.value.amount, "/amount"), !(1...FieldErrors.largestAmount).contains(amount) {
                errors.add("/amount", "must be 1 to \(FieldErrors.largestAmount) minor units")
            }
            errors.text(body.value.reason, "/reason", maximum: 200, required: false)
            try errors.check()
            let path = "/v1/admin/orders/\(order.id)/refunds"
            let caller = "\(context.actor.type):\(context.actor.id)"
            return try await idempotency.performInSteps(
                caller: caller, key: key, fingerprint: Idempotency.fingerprint(method: .post, path: path, body: body.data)
            ) {
                let refund = try await service.refund(
                    order, amount: body.value.amount ?? 0, reason: body.value.reason,
                    requestKey: Idempotency.requestKey(caller: caller, key: key))
                try await audit.record(.init(actor: context.actor, action: "order.refunded", target: "\(order.displayNumber) \(refund.amount)", origin: context.origin), on: database)
                // A pending refund is not a final answer: a retry with the key asks again.
                return refund.status == .pending
                    ? try Idempotency.Stored(status: .accepted, json: RefundResponse(refund)).provisional
                    : try Idempotency.Stored(status: .created, json: RefundResponse(refund))
            }
        }
        routes.on(.post, "/v1/admin/orders/:id/fulfillments", access: .staff, orScope: .ordersWrite) { request, context in
            let order = try await find(context)
            let input = try await request.decodeStrictJSON(as: FulfillmentInput.self, context: context.base).value
            let answer = try await fulfil(order, input, by: context)
            catalogCache.invalidate()
            return EditedResponse(status: .created, response: answer)
        }
    }

    private func find(_ context: PrincipalContext) async throws -> Order {
        let id: ID<Order> = try context.base.pathID(notFound: "There is no such order.")
        guard let order = try await store.find(id, on: database) else { throw OrderStore.notFound }
        return order
    }

    /// `status`, `customer`, `number` (with or without `#`), `from` and `to` (RFC 3339, on the
    /// creation time).
    static func filters(_ request: Request, after: String?) throws -> [SQL] {
        let query = request.uri.queryParameters
        var conditions: [SQL] = []
        var errors: [Problem.FieldError] = []
        if let after { conditions.append("id < \(after)") }
        if let status = query["status"] {
            if OrderStatus(rawValue: String(status)) != nil { conditions.append("status = \(String(status))") }
            else { errors.append(.init(parameter: "status", detail: "must be an order status such as paid")) }
        }
        if let customer = query["customer"] {
            if let id = ID<User>(String(customer)) { conditions.append("user_id = \(id)") }
            else { errors.append(.init(parameter: "customer", detail: "must be a user id")) }
        }
        if let number = query["number"] {
            if let value = Int64(number.hasPrefix("#") ? String(number.dropFirst()) : String(number)) { conditions.append("number = \(value)") }
            else { errors.append(.init(parameter: "number", detail: "must be an order number such as 1001")) }
        }
        for (name, comparison) in [("from", ">="), ("to", "<")] {
            guard let text = query[name[...]] else { continue }
            if let date = Timestamp.date(from: String(text)) {
                conditions.append("created_at \(unsafeRaw: comparison) \(date)")
            } else {
                errors.append(.init(parameter: name, detail: "must be an RFC 3339 time such as 2026-12-01T00:00:00Z"))
            }
        }
        guard errors.isEmpty else { throw Problem.validation(errors, detail: "The query has invalid parameters.") }
        return conditions
    }

    /// Ships lines from a location: for each, the line's fulfilled quantity, on hand and the
    /// reservation go down together (conditional UPDATEs), with ledger rows, in one transaction.
    private func fulfil(_ order: Order, _ input: FulfillmentInput, by context: PrincipalContext) async throws -> FulfillmentResponse {
        var errors = FieldErrors()
        let location = errors.required(input.locationID, "/location_id").flatMap(ID<StockLocation>.init)
        if input.locationID != nil, location == nil { errors.add("/location_id", "must be a stock location id") }
        let lines = input.lines ?? []
        if lines.isEmpty { errors.add("/lines", "name at least one line") }
        var requested: [(ID<OrderLine>, Int64)] = []
        for (index, line) in lines.enumerated() {
            let id = errors.required(line.lineID, "/lines/\(index)/line_id").flatMap(ID<OrderLine>.init)
            if line.lineID != nil, id == nil { errors.add("/lines/\(index)/line_id", "must be an order line id") }
            if let quantity = errors.required(line.quantity, "/lines/\(index)/quantity"), !(1...CartStore.maximumQuantity).contains(quantity) {
                errors.add("/lines/\(index)/quantity", "must be 1 to \(CartStore.maximumQuantity)")
            }
            if let id, let quantity = line.quantity { requested.append((id, quantity)) }
        }
        if Set(requested.map(\.0)).count != requested.count { errors.add("/lines", "must not name a line twice") }
        errors.text(input.carrier, "/carrier", maximum: 100, required: false)
        errors.text(input.trackingNumber, "/tracking_number", maximum: 100, required: false)
        try errors.check()
        guard let location else { throw Problem.internalError }

        return try await database.transaction { db in
            guard let current = try await store.find(order.id, on: db) else { throw OrderStore.notFound }
            guard [.paid, .partiallyFulfilled].contains(current.status) else {
                throw Problem(.conflict, slug: "order-not-fulfillable", title: "Order cannot be fulfilled",
                              detail: "Only a paid order can be fulfilled; this one is \(current.status.rawValue).")
            }
            guard try await inventory.location(location, on: db) else {
                throw Problem.validation([.init(pointer: "/location_id", detail: "names no stock location")])
            }
            let orderLines = try await store.lines(of: order.id, on: db)
            let now = clock.now()
            let fulfillmentID: ID<Fulfillment> = ids.make()
            try await db.execute("""
                INSERT INTO fulfillments (id, order_id, location_id, carrier, tracking_number, created_at)
                VALUES (\(fulfillmentID), \(order.id), \(location), \(input.carrier), \(input.trackingNumber), \(now))
                """)
            for (id, quantity) in requested.sorted(by: { $0.0.description < $1.0.description }) {
                guard let line = orderLines.first(where: { $0.id == id }) else {
                    throw Problem.validation([.init(pointer: "/lines", detail: "line \(id) is not a line of this order")])
                }
                guard try await db.queryFirst("""
                    UPDATE order_lines SET fulfilled_quantity = fulfilled_quantity + \(quantity)
                    WHERE id = \(id) AND fulfilled_quantity + \(quantity) <= quantity RETURNING id
                    """) != nil
                else {
                    throw Problem(.conflict, slug: "over-fulfilment", title: "More than ordered",
                                  detail: "Line \(line.sku) has \(line.outstanding) left to fulfil.")
                }
                try await ship(line, quantity: quantity, from: location, order: order, by: context, at: now, on: db)
                try await db.execute("""
                    INSERT INTO fulfillment_lines (fulfillment_id, order_line_id, quantity) VALUES (\(fulfillmentID), \(id), \(quantity))
                    """)
            }
            let remaining: Int64 = try await db.queryFirst("""
                SELECT CAST(COALESCE(SUM(quantity - fulfilled_quantity), 0) AS BIGINT) AS n FROM order_lines WHERE order_id = \(order.id)
                """)?.decode("n") ?? 0
            let event: OrderEvent = remaining == 0 ? .fulfilled : .partiallyFulfilled
            let next = try current.status.applying(event)
            guard try await store.transition(order.id, from: current.status, by: event, at: now, on: db) else {
                throw OrderStore.changed
            }
            try await audit.record(.init(actor: context.actor, action: "order.fulfilled", target: order.displayNumber, origin: context.origin), on: db)
            try await service.event(
                remaining == 0 ? "order.fulfilled" : "order.partially_fulfilled", current, status: next, carrier: input.carrier,
                trackingNumber: input.trackingNumber, on: db)
            try await CatalogCache.announceChange(on: db)
            return FulfillmentResponse(
                id: fulfillmentID.description, orderID: order.id.description, locationID: location.description,
                carrier: input.carrier, trackingNumber: input.trackingNumber,
                lines: requested.map { .init(lineID: $0.0.description, quantity: $0.1) }, orderStatus: next.rawValue,
                createdAt: Timestamp.string(from: now))
        }
    }

    /// Takes shipped units off the shelf. Stock reserved at this location goes down in on hand
    /// and reserved together; stock reserved elsewhere is released there and taken from here.
    private func ship(
        _ line: OrderLine, quantity: Int64, from location: ID<StockLocation>, order: Order, by context: PrincipalContext,
        at now: Date, on db: any SQLExecutor
    ) async throws {
        func move(_ at: ID<StockLocation>, onHand: Int64, reserved: Int64) async throws {
            guard try await db.queryFirst("""
                UPDATE inventory_levels SET on_hand = on_hand + \(onHand), reserved = reserved + \(reserved), updated_at = \(now)
                WHERE variant_id = \(line.variantID) AND location_id = \(at)
                  AND on_hand + \(onHand) >= 0 AND reserved + \(reserved) >= 0 AND on_hand + \(onHand) - reserved - \(reserved) >= 0
                RETURNING on_hand
                """) != nil
            else {
                throw Problem(.conflict, slug: "insufficient-stock", title: "Not enough stock",
                              detail: "\(line.sku) lacks \(quantity) units at this location to ship.")
            }
            try await inventory.record(
                InventoryMovement(
                    id: ids.make(), variantID: line.variantID, locationID: at, onHandDelta: onHand, reservedDelta: reserved,
                    reason: onHand == 0 ? "released" : "fulfilled", reference: "order \(order.displayNumber)",
                    actor: context.actor, createdAt: now),
                on: db)
        }
        if line.reservedLocationID == location {
            try await move(location, onHand: -quantity, reserved: -quantity)
        } else {
            if let reservedAt = line.reservedLocationID { try await move(reservedAt, onHand: 0, reserved: -quantity) }
            try await move(location, onHand: -quantity, reserved: 0)
        }
    }
}

/// A shipment of some of an order's lines from one location.
enum Fulfillment {}
