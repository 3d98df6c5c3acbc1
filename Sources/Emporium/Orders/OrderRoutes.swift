import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/orders`: customers read their own orders and cancel them before fulfilment. A guest
/// reads the one order whose access token (from the checkout answer or the confirmation
/// e-mail) they send in `X-Order-Token`; a wrong token is 404, like an order that does not
/// exist. A bearer token wins over it: a signed-in customer sees only their own orders, and
/// an app a customer granted `orders:read` sees that customer's orders, no others.
struct OrderRoutes {
    static let tokenHeader = HTTPField.Name("X-Order-Token")!

    let service: OrderService

    func register(on routes: RouteRegistrar) {
        let authenticator = routes.authenticator
        routes.on(.get, "/v1/orders", access: .customer, orScope: .ordersRead) { request, context in
            guard let person = context.principal.person else { throw Problem.missingScope(nil) }
            let page = try PageRequest(request)
            return try await service.page(.init(customer: person.id, before: page.after, limit: page.limit))
        }
        routes.on(.get, "/v1/orders/:id", access: .anonymous) { request, context in
            if request.headers[.authorization] == nil, let token = request.headers[Self.tokenHeader] {
                let id: ID<Order> = try context.pathID(notFound: "There is no such order.")
                return try await service.response(for: try await service.find(id, accessToken: token))
            }
            // Otherwise a customer's own order, as on the other routes (401 without a token,
            // 403 for an API key), read by them or by an app they granted `orders:read`.
            guard let user = try await authenticator.authenticate(request, access: .roleOrScope(.customer, .ordersRead)).person
            else { throw Problem.missingScope(nil) }
            let id: ID<Order> = try context.pathID(notFound: "There is no such order.")
            return try await service.response(for: try await service.find(id, of: user.id))
        }
        routes.on(.post, "/v1/orders/:id/cancel", access: .customer) { _, context in
            let order = try await own(context)
            let cancelled = try await service.cancel(order.id, reason: "customer_request", actor: context.actor, origin: context.origin)
            return try await service.response(for: cancelled)
        }
    }

    private func own(_ context: AuthenticatedContext) async throws -> Order {
        let id: ID<Order> = try context.base.pathID(notFound: "There is no such order.")
        return try await service.find(id, of: context.user.id)
    }
}

/// `/v1/admin/orders`: staff (or keys with orders:read / orders:write) list, read, capture,
/// refund, cancel and fulfil orders.
struct AdminOrderRoutes {
    let database: any Database
    let service: OrderService
    let idempotency: Idempotency
    let audit: AuditLog
    let catalogCache: CatalogCache
    /// Label purchases, when a carrier is configured.
    var labels: ShippingLabels? = nil

    struct RefundInput: Codable, Sendable {
        var amount: Int64?
        var reason: String?
    }

    struct CancelInput: Codable, Sendable {
        var reason: String?
    }

    /// A capture of less than the authorization names its amount; no body captures it all.
    struct CaptureInput: Codable, Sendable {
        var amount: Int64?
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
        var buyLabel: Bool?
        var labelService: String?

        enum CodingKeys: String, CodingKey {
            case lines, carrier
            case locationID = "location_id"
            case trackingNumber = "tracking_number"
            case buyLabel = "buy_label"
            case labelService = "label_service"
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
        /// The label bought with the fulfilment (`buy_label`), or still pending.
        @NullEncoded var label: LabelResponse?

        enum CodingKeys: String, CodingKey {
            case id, carrier, lines, label
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
            return try await service.page(try Self.filter(request, before: page.after, limit: page.limit))
        }
        routes.on(.get, "/v1/admin/orders/:id", access: .staff, orScope: .ordersRead) { _, context in
            try await service.response(for: try await find(context))
        }
        routes.on(.post, "/v1/admin/orders/:id/capture", access: .staff, orScope: .ordersWrite) { request, context in
            let order = try await find(context)
            let input = try await request.decodeOptionalStrictJSON(as: CaptureInput.self, absent: CaptureInput(), context: context.base)
            let captured = try await service.capture(order.id, amount: input.amount, author: (context.actor, context.origin))
            return try await service.response(for: captured)
        }
        routes.on(.post, "/v1/admin/orders/:id/cancel", access: .staff, orScope: .ordersWrite) { request, context in
            let order = try await find(context)
            let input = try await request.decodeOptionalStrictJSON(as: CancelInput.self, absent: CancelInput(), context: context.base)
            let cancelled = try await service.cancel(order.id, reason: input.reason ?? "merchant_request", actor: context.actor, origin: context.origin)
            return try await service.response(for: cancelled)
        }
        routes.on(.post, "/v1/admin/orders/:id/refunds", access: .staff, orScope: .ordersWrite) { request, context in
            guard let key = try Idempotency.key(of: request) else {
                throw Problem.validation([.init(parameter: "Idempotency-Key", detail: "is required for refunds")])
            }
            let order = try await find(context)
            let body = try await request.decodeStrictJSON(as: RefundInput.self, context: context.base)
            let path = "/v1/admin/orders/\(order.id)/refunds"
            let caller = "\(context.actor.type):\(context.actor.id)"
            return try await idempotency.performInSteps(
                caller: caller, key: key, fingerprint: Idempotency.fingerprint(method: .post, path: path, body: body.data)
            ) {
                let refund = try await service.refund(
                    order, amount: body.value.amount ?? 0, reason: body.value.reason,
                    requestKey: Idempotency.requestKey(caller: caller, key: key), author: (context.actor, context.origin))
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
            // Shipping named its variants in the change log: show their stock here at once.
            await catalogCache.catchUp(on: database)
            return EditedResponse(status: .created, response: answer)
        }
    }

    private func find(_ context: PrincipalContext) async throws -> Order {
        try await service.find(try context.base.pathID(notFound: "There is no such order."))
    }

    /// `status`, `customer`, `number` (with or without `#`), `from` and `to` (RFC 3339, on the
    /// creation time).
    static func filter(_ request: Request, before: String?, limit: Int) throws -> OrderStore.Filter {
        let query = request.uri.queryParameters
        var filter = OrderStore.Filter(before: before, limit: limit)
        var errors: [Problem.FieldError] = []
        if let status = query["status"] {
            if let status = OrderStatus(rawValue: String(status)) { filter.statuses = [status] }
            else { errors.append(.init(parameter: "status", detail: "must be an order status such as paid")) }
        }
        if let customer = query["customer"] {
            if let id = ID<User>(String(customer)) { filter.customer = id }
            else { errors.append(.init(parameter: "customer", detail: "must be a user id")) }
        }
        if let number = query["number"] {
            if let value = Int64(number.hasPrefix("#") ? String(number.dropFirst()) : String(number)) { filter.number = value }
            else { errors.append(.init(parameter: "number", detail: "must be an order number such as 1001")) }
        }
        for name in ["from", "to"] {
            guard let text = query[name[...]] else { continue }
            if let date = Timestamp.date(from: String(text)) {
                if name == "from" { filter.from = date } else { filter.to = date }
            } else {
                errors.append(.init(parameter: name, detail: "must be an RFC 3339 time such as 2026-12-01T00:00:00Z"))
            }
        }
        guard errors.isEmpty else { throw Problem.validation(errors, detail: "The query has invalid parameters.") }
        return filter
    }

    /// Hands a fulfilment, its input checked (`FulfillmentInput.check`), to the order service.
    private func fulfil(_ order: Order, _ input: FulfillmentInput, by context: PrincipalContext) async throws -> FulfillmentResponse {
        let requested = input.requested
        guard let location = input.locationID.flatMap(ID<StockLocation>.init) else { throw Problem.internalError }
        let record = try await service.fulfil(
            order.id,
            .init(
                location: location, lines: requested, carrier: input.carrier, trackingNumber: input.trackingNumber,
                buyLabel: input.buyLabel ?? false, labelService: input.labelService),
            labels: labels, actor: context.actor, origin: context.origin)
        let bought = record.label?.status == .purchased ? record.label : nil
        return FulfillmentResponse(
            id: record.id.description, orderID: order.id.description, locationID: location.description,
            carrier: bought?.carrier ?? input.carrier, trackingNumber: bought?.trackingNumber ?? input.trackingNumber,
            lines: requested.map { .init(lineID: $0.line.description, quantity: $0.quantity) },
            orderStatus: record.orderStatus.rawValue, createdAt: Timestamp.string(from: record.createdAt),
            label: record.label.map(LabelResponse.init))
    }
}

// MARK: The rules of the inputs

extension AdminOrderRoutes.RefundInput: CheckedBody {
    func check(into errors: inout FieldErrors) {
        if let amount = errors.required(amount, "/amount"), !(1...FieldErrors.largestAmount).contains(amount) {
            errors.add("/amount", "must be 1 to \(FieldErrors.largestAmount) minor units")
        }
        errors.text(reason, "/reason", maximum: 200, required: false)
    }
}

extension AdminOrderRoutes.CaptureInput: CheckedBody {
    func check(into errors: inout FieldErrors) {
        if let amount, !(1...FieldErrors.largestAmount).contains(amount) {
            errors.add("/amount", "must be 1 to \(FieldErrors.largestAmount) minor units")
        }
    }
}

extension AdminOrderRoutes.CancelInput: CheckedBody {
    func check(into errors: inout FieldErrors) {
        errors.text(reason, "/reason", maximum: 200, required: false)
    }
}

extension AdminOrderRoutes.FulfillmentInput: CheckedBody {
    /// The lines asked for, those whose id and quantity are well-formed.
    var requested: [(line: ID<OrderLine>, quantity: Int64)] {
        (lines ?? []).compactMap { line in
            guard let id = line.lineID.flatMap(ID<OrderLine>.init), let quantity = line.quantity else { return nil }
            return (id, quantity)
        }
    }

    func check(into errors: inout FieldErrors) {
        if let location = errors.required(locationID, "/location_id"), ID<StockLocation>(location) == nil {
            errors.add("/location_id", "must be a stock location id")
        }
        let lines = lines ?? []
        if lines.isEmpty { errors.add("/lines", "name at least one line") }
        for (index, line) in lines.enumerated() {
            if let id = errors.required(line.lineID, "/lines/\(index)/line_id"), ID<OrderLine>(id) == nil {
                errors.add("/lines/\(index)/line_id", "must be an order line id")
            }
            if let quantity = errors.required(line.quantity, "/lines/\(index)/quantity"), !(1...CartStore.maximumQuantity).contains(quantity) {
                errors.add("/lines/\(index)/quantity", "must be 1 to \(CartStore.maximumQuantity)")
            }
        }
        let requested = requested
        if Set(requested.map(\.line)).count != requested.count { errors.add("/lines", "must not name a line twice") }
        errors.text(carrier, "/carrier", maximum: 100, required: false)
        errors.text(trackingNumber, "/tracking_number", maximum: 100, required: false)
        errors.text(labelService, "/label_service", maximum: 100, required: false)
        if buyLabel == true, carrier != nil || trackingNumber != nil {
            errors.add("/buy_label", "a bought label gives the carrier and tracking number; leave those out")
        }
        if labelService != nil, buyLabel != true { errors.add("/label_service", "only with buy_label") }
    }
}
