import EmporiumCore
import EmporiumStorage
import Foundation
import Hummingbird

/// The order list and an order's page as values for their templates.
extension AdminOrderPages {
    static func list(_ request: Request, _ context: AdminContext, _ services: BackOfficeServices) async throws -> Response {
        let query = request.uri.queryParameters
        func text(_ name: String) -> String {
            query[name[...]].map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
        }
        let page = try PageRequest(request)
        var filter = OrderStore.Filter(before: page.after, limit: page.limit)
        var errors: [String] = []
        let status = text("status"), number = text("number"), email = text("email"), from = text("from"), to = text("to")
        if !status.isEmpty {
            if let value = OrderStatus(rawValue: status) { filter.statuses = [value] } else { errors.append("Status: unknown.") }
        }
        if !number.isEmpty {
            if let value = Int64(number.hasPrefix("#") ? String(number.dropFirst()) : number) { filter.number = value }
            else { errors.append("Number: an order number such as 1001.") }
        }
        if !from.isEmpty {
            if let date = Timestamp.date(from: from + "T00:00:00Z") { filter.from = date } else { errors.append("From: a date.") }
        }
        if !to.isEmpty {
            // Up to and including that day.
            if let date = Timestamp.date(from: to + "T00:00:00Z") { filter.to = date.addingTimeInterval(86_400) }
            else { errors.append("To: a date.") }
        }
        var noMatch = !errors.isEmpty
        if !email.isEmpty, errors.isEmpty {
            // Orders are found by their customer's account; guests' orders have none.
            if let account = try await services.accountStore.find(email: AccountRules.normalizedEmail(email), on: services.database) {
                filter.customer = account.user.id
            } else {
                noMatch = true
                errors.append("No customer account has the e-mail \(email); guests' orders are found by number.")
            }
        }
        let rows = noMatch ? [] : try await services.orders.store.list(filter, on: services.database)
        // Up to `limit + 1` rows, as for `Page`: one more means there is a next page.
        let shown = rows.prefix(page.limit)
        let nextCursor = rows.count > page.limit ? shown.last.map { PageRequest.encode($0.id.description) } : nil
        var values: [String: Any] = [
            "orders": shown.map(AdminDashboardPage.orderRow), "status": status, "number": number, "email": email, "from": from, "to": to,
            "statuses": OrderStatus.allCases.map { ["value": $0.rawValue, "selected": $0.rawValue == status] },
        ]
        if !errors.isEmpty { values["error"] = errors.joined(separator: " ") }
        if let next = nextCursor {
            var items = [URLQueryItem(name: "cursor", value: next)]
            for (name, value) in [("status", status), ("number", number), ("email", email), ("from", from), ("to", to)]
            where !value.isEmpty {
                items.append(URLQueryItem(name: name, value: value))
            }
            if page.limit != PageRequest.defaultLimit { items.append(URLQueryItem(name: "limit", value: "\(page.limit)")) }
            var components = URLComponents()
            components.queryItems = items
            values["next"] = "/admin/orders" + (components.string ?? "")
        }
        return context.render("orders", title: "Orders", values)
    }

    static func detail(
        _ order: Order, _ context: AdminContext, _ services: BackOfficeServices
    ) async throws -> Response {
        let database = services.database
        let lines = try await services.orders.store.lines(of: order.id, on: database)
        let payment = try await services.orders.payments.payment(of: order.id, on: database)
        let refunds = try await services.orders.payments.refunds(of: order.id, on: database)
        let shipments = try await services.orders.store.shipments(of: order.id, on: database)
        let events = try await Outbox(ids: services.ids).history(ofOrder: order.id, on: database)
        func money(_ amount: Int64) -> String { Money(minorUnits: amount, currency: order.currency).description }
        func decimal(_ amount: Int64) -> String { Money(minorUnits: amount, currency: order.currency).decimalString }
        let skus = Dictionary(lines.map { ($0.id.description, $0.sku) }, uniquingKeysWith: { first, _ in first })
        let address = order.shippingAddress
        var values: [String: Any] = [
            "id": order.id.description, "number": order.displayNumber, "status": order.status.rawValue, "email": order.email,
            "currency": order.currency.code, "created": Timestamp.string(from: order.createdAt),
            "subtotal": money(order.subtotal), "discount": money(order.discount), "shipping": money(order.shipping),
            "tax": money(order.tax), "total": money(order.total),
            "shipping_method": order.shippingMethodName,
            "address": [
                address.recipient, address.line1, address.line2 ?? "",
                [address.postalCode ?? "", address.city].filter { !$0.isEmpty }.joined(separator: " "),
                [address.region ?? "", address.country].filter { !$0.isEmpty }.joined(separator: ", "),
            ].filter { !$0.isEmpty },
            "lines": lines.map { line -> [String: Any] in
                [
                    "id": line.id.description, "sku": line.sku, "title": line.title, "quantity": line.quantity,
                    "fulfilled": line.fulfilledQuantity, "outstanding": line.outstanding, "unit_price": money(line.unitPrice),
                    "subtotal": money(line.subtotal), "open": line.outstanding > 0,
                ]
            },
            "refunds": refunds.map { refund -> [String: Any] in
                [
                    "amount": money(refund.amount), "status": refund.status.rawValue, "reason": refund.reason ?? "",
                    "created": Timestamp.string(from: refund.createdAt),
                ]
            },
            "shipments": shipments.map { shipment -> [String: Any] in
                [
                    "created": Timestamp.string(from: shipment.createdAt), "carrier": shipment.carrier ?? "", "tracking": shipment.trackingNumber ?? "",
                    "location": shipment.locationID,
                    "lines": shipment.lines.map { ["sku": skus[$0.lineID] ?? $0.lineID, "quantity": $0.quantity] as [String: Any] },
                ]
            },
            "events": events.map { ["type": $0.type, "created": Timestamp.string(from: $0.createdAt), "published": $0.published] as [String: Any] },
        ]
        // Set only when there is one: Mustache shows a section for any string, even an empty one.
        if let payment {
            var shown: [String: Any] = [
                "provider": payment.provider, "status": payment.status.rawValue, "amount": money(payment.amount),
                "authorized": money(payment.authorized), "captured": money(payment.captured),
                "refunded": money(payment.refunded),
            ]
            if let failure = payment.failureCode { shown["failure"] = failure }
            values["payment"] = shown
        }
        if let placed = order.placedAt { values["placed"] = Timestamp.string(from: placed) }
        if let reason = order.cancelReason, !reason.isEmpty { values["cancel_reason"] = reason }
        if let code = order.discountCode, !code.isEmpty { values["discount_code"] = code }
        if context.may(write) {
            if order.status == .authorized, payment?.status == .authorized, let payment {
                values["can_capture"] = ["authorized": decimal(payment.authorized)]
            }
            if let payment, payment.captured > payment.refunded {
                values["can_refund"] = ["left": decimal(payment.captured - payment.refunded), "refund_key": SecretToken.make()]
            }
            if order.status.isCancellable { values["can_cancel"] = true }
            if [.paid, .partiallyFulfilled].contains(order.status), lines.contains(where: { $0.outstanding > 0 }) {
                let locations = try await services.inventory.locations(on: database)
                values["can_fulfil"] = [
                    "locations": locations.map { ["id": $0.id.description, "name": $0.name, "code": $0.code] },
                    // The form ships from this version only: sent twice, the second finds the order moved on.
                    "order_version": order.version,
                ] as [String: Any]
            }
        }
        return context.render("order", title: "Order \(order.displayNumber)", values)
    }
}
