import EmporiumCore
import EmporiumStorage
import Foundation
import Hummingbird

/// `/admin/orders`: the order list with its filters, each order's page, and its actions
/// (capture, refund, cancel, fulfil), each through the order service as the JSON admin routes
/// call it, with their input rules (`AdminOrderRoutes.*Input.check`) and audit entries.
enum AdminOrderPages: AdminSection {
    static let templates: [String: [UInt8]] = [:]
    static let read = Access.roleOrScope(.staff, .ordersRead)
    static let write = Access.roleOrScope(.staff, .ordersWrite)

    static func register(on routes: AdminRoutes, services: BackOfficeServices) {
        routes.page("/admin/orders", access: read, menu: .init(label: "Orders", order: 10)) { request, context in
            try await list(request, context, services)
        }
        routes.page("/admin/orders/:id", access: read) { _, context in
            let order = try await order(context, services)
            return try await detail(order, context, services)
        }
        let page: @Sendable (AdminContext) -> String = { context in
            "/admin/orders/\(context.parameters.get("id") ?? "")"
        }
        let back: @Sendable (Request, AdminContext) -> String = { page($1) }
        routes.action("/admin/orders/:id/capture", access: write, returnTo: back) { _, context, form in
            try context.requireConfirmation(form)
            let order = try await order(context, services)
            var input = AdminOrderRoutes.CaptureInput()
            input.amount = try amount(form["amount"], in: order.currency)
            try check(input)
            // The service audits the capture in the transaction that records it, once however often it is asked.
            let captured = try await services.orders.capture(order.id, amount: input.amount, author: (context.actor, context.origin))
            return try await context.redirect(to: page(context), notice: "Order \(order.displayNumber) is \(captured.status.rawValue).")
        }
        routes.action("/admin/orders/:id/refunds", access: write, returnTo: back) { _, context, form in
            try context.requireConfirmation(form)
            let order = try await order(context, services)
            let input = AdminOrderRoutes.RefundInput(amount: try amount(form["amount"], in: order.currency), reason: form["reason"])
            try check(input)
            // The form's own key: the same form sent twice refunds once, as an Idempotency-Key does.
            guard let key = form["refund_key"], (16...64).contains(key.utf8.count) else {
                throw Problem.validation([.init(pointer: "/refund_key", detail: "is missing; reload the page")])
            }
            let requestKey = "admin:\(context.member.id):\(key)"
            if try await services.orders.payments.refund(requestKey: requestKey, of: order.id, on: services.database) != nil {
                return try await context.redirect(to: page(context), error: "This refund form was already sent; nothing more was refunded.")
            }
            // The service audits the refund in the transaction that reserves it, once however often it is asked.
            let refund = try await services.orders.refund(
                order, amount: input.amount ?? 0, reason: input.reason, requestKey: requestKey,
                author: (context.actor, context.origin))
            let amount = Money(minorUnits: refund.amount, currency: order.currency)
            return try await context.redirect(to: page(context), notice: "Refund of \(amount) is \(refund.status.rawValue).")
        }
        routes.action("/admin/orders/:id/cancel", access: write, returnTo: back) { _, context, form in
            try context.requireConfirmation(form)
            let order = try await order(context, services)
            let input = AdminOrderRoutes.CancelInput(reason: form["reason"])
            try check(input)
            _ = try await services.orders.cancel(
                order.id, reason: input.reason ?? "merchant_request", actor: context.actor, origin: context.origin)
            return try await context.redirect(to: page(context), notice: "Order \(order.displayNumber) is cancelled.")
        }
        routes.action("/admin/orders/:id/fulfillments", access: write, returnTo: back) { _, context, form in
            try context.requireConfirmation(form)
            let order = try await order(context, services)
            let lines = try await services.orders.store.lines(of: order.id, on: services.database)
            var input = AdminOrderRoutes.FulfillmentInput()
            input.locationID = form["location_id"]
            input.carrier = form["carrier"]
            input.trackingNumber = form["tracking_number"]
            input.lines = lines.compactMap { line in
                guard let text = form["quantity_\(line.id)"] else { return nil }
                let quantity = Int64(text) ?? -1
                return quantity == 0 ? nil : .init(lineID: line.id.description, quantity: quantity)
            }
            try check(input)
            guard let location = input.locationID.flatMap(ID<StockLocation>.init) else { throw Problem.internalError }
            guard let version = form["order_version"].flatMap({ Int64($0) }) else {
                throw Problem.validation([.init(pointer: "/order_version", detail: "is missing; reload the page")])
            }
            var request = OrderService.FulfillmentRequest(
                location: location, lines: input.requested, carrier: input.carrier, trackingNumber: input.trackingNumber)
            request.expectedVersion = version
            let record = try await services.orders.fulfil(order.id, request, actor: context.actor, origin: context.origin)
            // As the JSON route does: the storefront shows the shipped variants' stock at once.
            await services.catalogCache.catchUp(on: services.database)
            return try await context.redirect(
                to: page(context), notice: "Shipped; order \(order.displayNumber) is \(record.orderStatus.rawValue).")
        }
    }

    /// The order the path names.
    static func order(_ context: AdminContext, _ services: BackOfficeServices) async throws -> Order {
        let id: ID<Order> = try context.base.pathID(notFound: "There is no such order.")
        return try await services.orders.find(id)
    }

    /// A form's decimal amount in minor units; empty is nil.
    static func amount(_ text: String?, in currency: Currency) throws -> Int64? {
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        guard let money = try? Money(parsing: text, currency: currency) else {
            throw Problem.validation([.init(pointer: "/amount", detail: "must be an amount such as 12.50 in \(currency.code)")])
        }
        return money.minorUnits
    }

    static func check(_ input: some CheckedBody) throws {
        var errors = FieldErrors()
        input.check(into: &errors)
        try errors.check()
    }
}
