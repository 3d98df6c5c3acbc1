import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/admin/tax-rates`: administrators list, add, change and delete tax rates per country and
/// region, through `TaxRateRoutes.entry` (the JSON routes' rules) and with their audit entries.
enum TaxRatePages: AdminSection {
    static let templates: [String: [UInt8]] = [
        "tax_rates": PackageResources.admin_tax_rates_mustache,
        "tax_rate": PackageResources.admin_tax_rate_mustache,
    ]
    static let access = Access.role(.admin)
    static let notFound = Problem.notFound("There is no such tax rate.")

    static func register(on routes: AdminRoutes, services: BackOfficeServices) {
        let store = TaxRateStore()
        routes.page("/admin/tax-rates", access: access, menu: .init(label: "Tax rates", order: 62)) { _, context in
            // As GET /v1/admin/tax-rates: one list, a row per country and region, so no pages.
            let rates = try await store.all(on: services.database)
            return context.render("tax_rates", title: "Tax rates", ["rates": rates.map(view)])
        }
        let list: @Sendable (Request, AdminContext) -> String = { _, _ in "/admin/tax-rates" }
        routes.action("/admin/tax-rates", access: access, returnTo: list) { _, context, form in
            let now = services.clock.now()
            let entry = try TaxRateRoutes.entry(from: try input(form), id: services.ids.make(), createdAt: now, updatedAt: now)
            try await save(entry, action: "tax_rate.created", context, services, store)
            return try await context.redirect(to: "/admin/tax-rates", notice: "Tax rate \(entry.name) added.")
        }
        routes.page("/admin/tax-rates/:id", access: access) { _, context in
            let entry = try await find(context, services, store)
            return context.render("tax_rate", title: "Tax rate", ["rate": view(entry)])
        }
        let back: @Sendable (Request, AdminContext) -> String = { _, context in
            "/admin/tax-rates/\(context.parameters.get("id") ?? "")"
        }
        routes.action("/admin/tax-rates/:id", access: access, returnTo: back) { _, context, form in
            let existing = try await find(context, services, store)
            let entry = try TaxRateRoutes.entry(
                from: try input(form), id: existing.id, createdAt: existing.createdAt, updatedAt: services.clock.now())
            try await save(entry, action: "tax_rate.updated", context, services, store)
            return try await context.redirect(to: "/admin/tax-rates", notice: "Tax rate \(entry.name) saved.")
        }
        routes.action("/admin/tax-rates/:id/delete", access: access, returnTo: back) { _, context, form in
            try context.requireConfirmation(form)
            let id: ID<TaxRateEntry> = try context.base.pathID(notFound: "There is no such tax rate.")
            try await services.database.transaction { db in
                guard try await store.delete(id, on: db) else { throw notFound }
                try await services.audit.record(
                    .init(actor: context.actor, action: "tax_rate.deleted", target: id.description, origin: context.origin), on: db)
            }
            return try await context.redirect(to: "/admin/tax-rates", notice: "Tax rate deleted.")
        }
    }

    /// The form as the JSON body: the rate is typed in percent (19 or 7.5) and sent on as parts
    /// per million, which `TaxRateRoutes.entry` checks.
    static func input(_ form: OAuthForm) throws -> TaxRateRoutes.Input {
        var input = TaxRateRoutes.Input(country: form["country"], region: form["region"], name: form["name"])
        if let text = form["rate"]?.trimmingCharacters(in: .whitespaces) {
            let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            let fraction = parts.count > 1 ? String(parts[1]) : ""
            guard !parts[0].isEmpty, parts[0].count <= 7, parts[0].allSatisfy(\.isASCII), fraction.count <= 4,
                fraction.allSatisfy(\.isASCII), let whole = Int64(parts[0]), whole >= 0,
                let part = Int64(fraction.padding(toLength: 4, withPad: "0", startingAt: 0)), part >= 0
            else { throw Problem.validation([.init(pointer: "/rate", detail: "must be a percentage such as 19 or 7.5")]) }
            input.ratePPM = whole * 10_000 + part
        }
        return input
    }

    /// As the JSON routes save: with the audit entry, and a second rate for a place is a conflict.
    static func save(
        _ entry: TaxRateEntry, action: String, _ context: AdminContext, _ services: BackOfficeServices, _ store: TaxRateStore
    ) async throws {
        do {
            try await services.database.transaction { db in
                try await store.save(entry, on: db)
                try await services.audit.record(
                    .init(actor: context.actor, action: action, target: entry.id.description, origin: context.origin), on: db)
            }
        } catch DatabaseError.uniqueViolation {
            throw Problem(.conflict, slug: "tax-rate-exists", title: "Rate exists", detail: "This country and region already have a rate; change that one.")
        }
    }

    static func find(_ context: AdminContext, _ services: BackOfficeServices, _ store: TaxRateStore) async throws -> TaxRateEntry {
        let id: ID<TaxRateEntry> = try context.base.pathID(notFound: "There is no such tax rate.")
        guard let entry = try await store.find(id, on: services.database) else { throw notFound }
        return entry
    }

    static func view(_ entry: TaxRateEntry) -> [String: Any] {
        [
            "id": entry.id.description, "country": entry.country, "region": entry.region, "name": entry.name,
            "rate": entry.rate.description, "percent": String(entry.rate.description.dropLast()),
            "updated": Timestamp.string(from: entry.updatedAt),
        ]
    }
}
