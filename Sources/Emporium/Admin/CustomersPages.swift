import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/admin/customers`: customer accounts, found by the start of their e-mail address, and each
/// customer's page with their orders (each linking to its order page). Read-only, with the
/// access of `GET /v1/admin/customers`; the orders show to members who may read orders.
enum CustomersPages: AdminSection {
    static let templates: [String: [UInt8]] = [
        "customers": PackageResources.admin_customers_mustache,
        "customer": PackageResources.admin_customer_mustache,
    ]

    static let read = Access.roleOrScope(.staff, .customersRead)
    static let orders = Access.roleOrScope(.staff, .ordersRead)

    static func register(on routes: AdminRoutes, services: BackOfficeServices) {
        let accounts = services.accountStore, database = services.database

        routes.page("/admin/customers", access: read, menu: .init(label: "Customers", order: 40)) { request, context in
            let page = try PageRequest(request)
            let email = (request.uri.queryParameters["email"].map(String.init) ?? "").trimmingCharacters(in: .whitespaces)
            guard email.count <= 254 else {
                throw Problem.validation([.init(parameter: "email", detail: "must be at most 254 characters")])
            }
            let users = try await accounts.customers(emailPrefix: email, after: page.after, limit: page.limit + 1, on: database)
            let shown = Page(users.map { $0.id.description }, limit: page.limit, id: { $0 })
            var values: [String: Any] = [
                "customers": users.prefix(page.limit).map { user -> [String: Any] in
                    ["id": user.id.description, "email": user.email, "name": user.name, "since": CatalogViews.time(user.createdAt)]
                },
            ]
            // Set only when given: Mustache shows a section for any string, even an empty one.
            if !email.isEmpty { values["email"] = email }
            if let next = shown.nextCursor { values["next"] = CatalogViews.link("/admin/customers", [("email", email), ("cursor", next)]) }
            return context.render("customers", title: "Customers", values)
        }

        routes.page("/admin/customers/:id", access: read) { request, context in
            let id: ID<User> = try context.base.pathID(notFound: "There is no customer with this id.")
            guard let user = try await accounts.find(id: id, on: database), user.role == .customer else {
                throw Problem.notFound("There is no customer with this id.")
            }
            var values: [String: Any] = [
                "customer": ["id": user.id.description, "email": user.email, "name": user.name,
                             "since": CatalogViews.time(user.createdAt)],
                "may_read_orders": context.may(orders),
            ]
            if context.may(orders) {
                let page = try PageRequest(request)
                let rows = try await services.orders.store.list(.init(customer: id, before: page.after, limit: page.limit), on: database)
                values["orders"] = rows.prefix(page.limit).map { order -> [String: Any] in
                    [
                        "id": order.id.description, "number": order.displayNumber, "status": order.status.rawValue,
                        "total": Money(minorUnits: order.total, currency: order.currency).description,
                        "placed": CatalogViews.time(order.placedAt ?? order.createdAt),
                    ]
                }
                let shown = Page(rows.map { $0.id.description }, limit: page.limit, id: { $0 })
                if let next = shown.nextCursor { values["next"] = CatalogViews.link("/admin/customers/\(id)", [("cursor", next)]) }
            }
            return context.render("customer", title: "Customer \(user.email)", values)
        }
    }
}
