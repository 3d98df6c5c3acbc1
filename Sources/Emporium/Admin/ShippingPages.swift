import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/admin/shipping-methods`: administrators list, add, change and delete shipping methods,
/// through `ShippingRoutes.method` (the JSON routes' rules) and with their audit entries.
/// Weight tiers are kept as they are when a method is changed here; the JSON routes set them.
enum ShippingPages: AdminSection {
    static let templates: [String: [UInt8]] = [
        "shipping_methods": PackageResources.admin_shipping_methods_mustache,
        "shipping_method": PackageResources.admin_shipping_method_mustache,
    ]
    static let access = Access.role(.admin)
    static let notFoundDetail = "There is no such shipping method."

    static func register(on routes: AdminRoutes, services: BackOfficeServices) {
        let store = ShippingMethodStore()
        routes.page("/admin/shipping-methods", access: access, menu: .init(label: "Shipping", order: 61)) { _, context in
            // As GET /v1/admin/shipping-methods: one short list, so no pages.
            let methods = try await store.all(on: services.database)
            return context.render("shipping_methods", title: "Shipping methods", ["methods": methods.map(view)])
        }
        let list: @Sendable (Request, AdminContext) -> String = { _, _ in "/admin/shipping-methods" }
        routes.action("/admin/shipping-methods", access: access, returnTo: list) { _, context, form in
            let now = services.clock.now()
            let method = try ShippingRoutes.method(from: try input(form, tiers: nil), id: services.ids.make(), createdAt: now, updatedAt: now)
            try await services.database.transaction { db in
                try await store.insert(method, on: db)
                try await services.audit.record(
                    .init(actor: context.actor, action: "shipping_method.created", target: method.id.description, origin: context.origin), on: db)
            }
            return try await context.redirect(to: "/admin/shipping-methods", notice: "Shipping method \(method.name) added.")
        }
        routes.page("/admin/shipping-methods/:id", access: access) { _, context in
            let id: ID<ShippingMethod> = try context.base.pathID(notFound: notFoundDetail)
            guard let method = try await store.find(id, on: services.database) else { throw Problem.notFound(notFoundDetail) }
            return context.render("shipping_method", title: "Shipping method", ["method": view(method)])
        }
        let back: @Sendable (Request, AdminContext) -> String = { _, context in
            "/admin/shipping-methods/\(context.parameters.get("id") ?? "")"
        }
        routes.action("/admin/shipping-methods/:id", access: access, returnTo: back) { _, context, form in
            let id: ID<ShippingMethod> = try context.base.pathID(notFound: notFoundDetail)
            let method = try await services.database.transaction { db in
                guard let existing = try await store.find(id, on: db) else { throw Problem.notFound(notFoundDetail) }
                let method = try ShippingRoutes.method(
                    from: try input(form, tiers: existing.rule.tiers), id: id, createdAt: existing.createdAt,
                    updatedAt: services.clock.now())
                try await store.update(method, on: db)
                try await services.audit.record(
                    .init(actor: context.actor, action: "shipping_method.updated", target: id.description, origin: context.origin), on: db)
                return method
            }
            return try await context.redirect(to: "/admin/shipping-methods", notice: "Shipping method \(method.name) saved.")
        }
        routes.action("/admin/shipping-methods/:id/delete", access: access, returnTo: back) { _, context, form in
            try context.requireConfirmation(form)
            let id: ID<ShippingMethod> = try context.base.pathID(notFound: notFoundDetail)
            try await services.database.transaction { db in
                guard try await store.delete(id, on: db) else { throw Problem.notFound(notFoundDetail) }
                try await services.audit.record(
                    .init(actor: context.actor, action: "shipping_method.deleted", target: id.description, origin: context.origin), on: db)
            }
            return try await context.redirect(to: "/admin/shipping-methods", notice: "Shipping method deleted.")
        }
    }

    /// The form as the JSON body: amounts are typed as decimals of the currency (4.90) and sent
    /// on in minor units; countries are separated by spaces or commas.
    static func input(_ form: OAuthForm, tiers: [ShippingRule.WeightTier]?) throws -> ShippingRoutes.Input {
        var input = ShippingRoutes.Input(name: form["name"], currency: form["currency"], tiers: tiers, active: form["active"] == "yes")
        input.countries = (form["countries"] ?? "").split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
        // Without a known currency the amounts cannot be read; the currency's own message says why.
        if let currency = form["currency"].flatMap(Currency.init(code:)) {
            input.flatAmount = try amount(form["flat_amount"], in: currency, at: "/flat_amount")
            input.freeOver = try amount(form["free_over"], in: currency, at: "/free_over")
        }
        return input
    }

    /// A decimal amount of `currency` in minor units; empty is nil.
    static func amount(_ text: String?, in currency: Currency, at pointer: String) throws -> Int64? {
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        guard let money = try? Money(parsing: text, currency: currency) else {
            throw Problem.validation([.init(pointer: pointer, detail: "must be an amount such as 4.90 in \(currency.code)")])
        }
        return money.minorUnits
    }

    static func view(_ method: ShippingMethod) -> [String: Any] {
        func decimal(_ minor: Int64) -> String { Money(minorUnits: minor, currency: method.currency).decimalString }
        var values: [String: Any] = [
            "id": method.id.description, "name": method.name, "currency": method.currency.code,
            "flat_amount": decimal(method.rule.flatAmount), "countries": method.countries.joined(separator: " "),
            "active": method.active, "tiers": method.rule.tiers.count, "updated": Timestamp.string(from: method.updatedAt),
        ]
        if let free = method.rule.freeOver { values["free_over"] = decimal(free) }
        return values
    }
}
