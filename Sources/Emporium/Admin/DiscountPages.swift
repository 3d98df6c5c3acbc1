import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/admin/discounts`: staff list discount codes page by page, add, change and delete them,
/// through `DiscountRoutes.discount` (the JSON routes' rules) and with their audit entries.
enum DiscountPages: AdminSection {
    static let templates: [String: [UInt8]] = [
        "discounts": PackageResources.admin_discounts_mustache,
        "discount": PackageResources.admin_discount_mustache,
    ]
    static let access = Access.role(.staff)
    static let notFoundDetail = "There is no such discount."

    static func register(on routes: AdminRoutes, services: BackOfficeServices) {
        let store = DiscountStore(ids: services.ids)
        routes.page("/admin/discounts", access: access, menu: .init(label: "Discounts", order: 60)) { request, context in
            let page = try PageRequest(request)
            let rows = try await store.list(after: page.after, limit: page.limit, on: services.database)
            let shown = Page(rows.map(DiscountRoutes.DiscountResponse.init), limit: page.limit, id: \.id)
            var values: [String: Any] = ["discounts": shown.data.map(view)]
            if let next = shown.nextCursor { values["next"] = WebhookViews.link("/admin/discounts", [("cursor", next)]) }
            return context.render("discounts", title: "Discounts", values)
        }
        let list: @Sendable (Request, AdminContext) -> String = { _, _ in "/admin/discounts" }
        routes.action("/admin/discounts", access: access, returnTo: list) { _, context, form in
            let now = services.clock.now()
            let discount = try DiscountRoutes.discount(
                from: try input(form), id: services.ids.make(), timesUsed: 0, createdAt: now, updatedAt: now)
            try await save(discount, action: "discount.created", context, services, store)
            return try await context.redirect(to: "/admin/discounts", notice: "Discount \(discount.code) added.")
        }
        routes.page("/admin/discounts/:id", access: access) { _, context in
            let discount = try await find(context, services, store)
            return context.render("discount", title: "Discount", ["discount": view(DiscountRoutes.DiscountResponse(discount))])
        }
        let back: @Sendable (Request, AdminContext) -> String = { _, context in
            "/admin/discounts/\(context.parameters.get("id") ?? "")"
        }
        routes.action("/admin/discounts/:id", access: access, returnTo: back) { _, context, form in
            let existing = try await find(context, services, store)
            let discount = try DiscountRoutes.discount(
                from: try input(form), id: existing.id, timesUsed: existing.timesUsed, createdAt: existing.createdAt,
                updatedAt: services.clock.now())
            try await save(discount, action: "discount.updated", context, services, store)
            return try await context.redirect(to: "/admin/discounts", notice: "Discount \(discount.code) saved.")
        }
        routes.action("/admin/discounts/:id/delete", access: access, returnTo: back) { _, context, form in
            try context.requireConfirmation(form)
            let id: ID<Discount> = try context.base.pathID(notFound: notFoundDetail)
            try await services.database.transaction { db in
                guard try await store.find(id, on: db) != nil else { throw Problem.notFound(notFoundDetail) }
                guard try await store.delete(id, on: db) else {
                    throw Problem(.conflict, slug: "discount-in-use", title: "Discount in use",
                                  detail: "Orders used this code; untick Active instead of deleting it.")
                }
                try await services.audit.record(
                    .init(actor: context.actor, action: "discount.deleted", target: id.description, origin: context.origin), on: db)
            }
            return try await context.redirect(to: "/admin/discounts", notice: "Discount deleted.")
        }
    }

    /// The form as the JSON body. A percentage is typed in percent (10 or 12.5), amounts as
    /// `EUR 5.00, USD 6.00`, times in RFC 3339; `DiscountRoutes.discount` checks the rest.
    static func input(_ form: OAuthForm) throws -> DiscountRoutes.Input {
        var input = DiscountRoutes.Input(code: form["code"], kind: form["kind"])
        if let text = form["percentage"] {
            guard let ppm = ppm(text) else {
                throw Problem.validation([.init(pointer: "/percentage", detail: "must be a percentage such as 10 or 12.5")])
            }
            input.percentagePPM = ppm
        }
        input.amounts = try amounts(form["amounts"], at: "/amounts")
        input.minimumSubtotals = try amounts(form["minimum_subtotals"], at: "/minimum_subtotals")
        input.startsAt = form["starts_at"]
        input.endsAt = form["ends_at"]
        input.usageLimit = try whole(form["usage_limit"], at: "/usage_limit")
        input.perCustomerLimit = try whole(form["per_customer_limit"], at: "/per_customer_limit")
        input.active = form["active"] == "yes"
        return input
    }

    /// Percent with up to four decimals as parts per million; nil when it is not one.
    static func ppm(_ text: String) -> Int64? {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        guard !parts[0].isEmpty, parts[0].count <= 7, parts[0].allSatisfy(\.isASCII), fraction.count <= 4, fraction.allSatisfy(\.isASCII),
            let whole = Int64(parts[0]), whole >= 0, let part = Int64(fraction.padding(toLength: 4, withPad: "0", startingAt: 0)), part >= 0
        else { return nil }
        return whole * 10_000 + part
    }

    /// `EUR 5.00, USD 6.00` as currency amounts in minor units; nil when empty.
    static func amounts(_ text: String?, at pointer: String) throws -> [CurrencyAmount]? {
        guard let text else { return nil }
        return try text.split(separator: ",").map { entry in
            let words = entry.split(separator: " ")
            guard words.count == 2, let currency = Currency(code: String(words[0]).uppercased()),
                let money = try? Money(parsing: String(words[1]), currency: currency)
            else { throw Problem.validation([.init(pointer: pointer, detail: "must be amounts such as EUR 5.00, USD 6.00")]) }
            return CurrencyAmount(currency: currency.code, amount: money.minorUnits)
        }
    }

    static func whole(_ text: String?, at pointer: String) throws -> Int64? {
        guard let text else { return nil }
        guard let number = Int64(text.trimmingCharacters(in: .whitespaces)) else {
            throw Problem.validation([.init(pointer: pointer, detail: "must be a whole number")])
        }
        return number
    }

    /// As the JSON routes save: with the audit entry; a code another discount has is a conflict.
    static func save(
        _ discount: Discount, action: String, _ context: AdminContext, _ services: BackOfficeServices, _ store: DiscountStore
    ) async throws {
        do {
            try await services.database.transaction { db in
                try await store.save(discount, on: db)
                try await services.audit.record(
                    .init(actor: context.actor, action: action, target: discount.code, origin: context.origin), on: db)
            }
        } catch DatabaseError.uniqueViolation {
            throw Problem(.conflict, slug: "code-taken", title: "Code in use", detail: "Another discount has this code.")
        }
    }

    static func find(_ context: AdminContext, _ services: BackOfficeServices, _ store: DiscountStore) async throws -> Discount {
        let id: ID<Discount> = try context.base.pathID(notFound: notFoundDetail)
        guard let discount = try await store.find(id, on: services.database) else { throw Problem.notFound(notFoundDetail) }
        return discount
    }

    /// Parts per million as the percent the form takes: 125000 is 12.5.
    static func percent(_ ppm: Int64) -> String {
        var fraction = String(ppm % 10_000)
        fraction = String(repeating: "0", count: 4 - fraction.count) + fraction
        while fraction.last == "0" { fraction.removeLast() }
        return fraction.isEmpty ? "\(ppm / 10_000)" : "\(ppm / 10_000).\(fraction)"
    }

    static func view(_ discount: DiscountRoutes.DiscountResponse) -> [String: Any] {
        func text(_ list: [CurrencyAmount]) -> String {
            list.compactMap { item in
                Currency(code: item.currency).map { "\($0.code) \(Money(minorUnits: item.amount, currency: $0).decimalString)" }
            }.joined(separator: ", ")
        }
        var values: [String: Any] = [
            "id": discount.id, "code": discount.code, "kind": discount.kind,
            "percentage": discount.percentagePPM.map(percent) ?? "",
            "amounts": text(discount.amounts),
            "minimum_subtotals": text(discount.minimumSubtotals),
            "starts_at": discount.startsAt ?? "", "ends_at": discount.endsAt ?? "",
            "usage_limit": discount.usageLimit.map(String.init) ?? "", "per_customer_limit": discount.perCustomerLimit.map(String.init) ?? "",
            "times_used": discount.timesUsed, "active": discount.active,
            "fixed": discount.kind == Discount.Kind.fixed.rawValue,
        ]
        values["percentage_kind"] = discount.kind == Discount.Kind.percentage.rawValue
        return values
    }
}
