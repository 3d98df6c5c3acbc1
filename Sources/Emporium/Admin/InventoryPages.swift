import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/admin/inventory`: stock levels by SKU and location, and each variant's page with its
/// level at every location, the adjustment form and its movements. An adjustment runs the
/// very code of `POST /v1/admin/inventory/adjustments` (`InventoryRoutes.adjust`): the same
/// rules, ledger row and audit entry.
enum InventoryPages: AdminSection {
    static let templates: [String: [UInt8]] = [
        "inventory_levels": PackageResources.admin_inventory_levels_mustache,
        "inventory_variant": PackageResources.admin_inventory_variant_mustache,
    ]

    static let read = Access.roleOrScope(.staff, .inventoryRead)
    static let write = Access.roleOrScope(.staff, .inventoryWrite)

    static func register(on routes: AdminRoutes, services: BackOfficeServices) {
        let store = services.inventory, database = services.database
        let adjuster = InventoryRoutes(
            database: database, store: store, audit: services.audit, cache: services.catalogCache,
            idempotency: services.idempotency, clock: services.clock, ids: services.ids)

        routes.page("/admin/inventory", access: read, menu: .init(label: "Inventory", order: 30)) { request, context in
            let page = try PageRequest(request, cursorFields: 2)
            let query = request.uri.queryParameters
            var filter = InventoryStore.LevelFilter(limit: page.limit)
            let sku = (query["sku"].map(String.init) ?? "").trimmingCharacters(in: .whitespaces)
            if !sku.isEmpty { filter.sku = sku }
            filter.belowThreshold = query["low"] == "true"
            if let after = page.afterKeys { filter.after = (after[0], after[1]) }
            let locations = Dictionary(uniqueKeysWithValues: try await store.locations(on: database).map { ($0.id, $0) })
            let rows = try await store.levels(filter, on: database)
            let levels = rows.prefix(page.limit).map { level, variant -> [String: Any] in
                [
                    "variant_id": variant.id.description, "sku": variant.sku,
                    "location": locations[level.locationID]?.name ?? level.locationID.description,
                    "on_hand": String(level.onHand), "reserved": String(level.reserved), "available": String(level.available),
                    "threshold": String(variant.lowStockThreshold), "low": level.available <= variant.lowStockThreshold,
                ]
            }
            var values: [String: Any] = ["levels": levels, "low": filter.belowThreshold]
            // Set only when given: Mustache shows a section for any string, even an empty one.
            if !sku.isEmpty { values["sku"] = sku }
            if rows.count > page.limit, let last = rows.prefix(page.limit).last {
                let cursor = KeysetCursor.encode([last.1.sku, last.0.locationID.description])
                values["next"] = CatalogViews.link("/admin/inventory", [("sku", sku), ("low", filter.belowThreshold ? "true" : nil), ("cursor", cursor)])
            }
            return context.render("inventory_levels", title: "Inventory", values)
        }

        routes.page("/admin/inventory/variants/:id", access: read) { request, context in
            try await variantPage(request, context, services: services, form: [:], error: nil)
        }

        routes.action(
            "/admin/inventory/variants/:id/adjustments", access: write,
            returnTo: { request, _ in String(request.uri.path.dropLast("/adjustments".count)) }
        ) { request, context, form in
            let id: ID<Variant> = try context.base.pathID(notFound: "There is no variant with this id.")
            var input = InventoryRoutes.AdjustmentInput()
            input.variantID = id.description
            input.locationID = form.values["location_id"]
            input.reason = form.values["reason"]
            let reference = (form.values["reference"] ?? "").trimmingCharacters(in: .whitespaces)
            input.reference = reference.isEmpty ? nil : reference
            let quantity = (form.values["quantity"] ?? "").trimmingCharacters(in: .whitespaces)
            let number = Int64(quantity)
            if form.values["mode"] == "count" { input.count = number } else { input.delta = number }
            guard number != nil else {
                return try await variantPage(
                    request, context, services: services, form: form.values,
                    error: "The quantity must be a whole number: how many to add (or, negative, to take away), or the count.")
            }
            let principal = PrincipalContext(base: context.base, principal: .user(context.member))
            let adjustment = input
            let response: InventoryRoutes.AdjustmentResponse
            do {
                response = try await database.transaction { db in try await adjuster.adjust(adjustment, by: principal, on: db) }
            } catch let problem as Problem where problem.status.code < 500 && problem.status != .notFound {
                return try await variantPage(request, context, services: services, form: form.values, error: problem.pageMessage)
            }
            // The level changed stock the storefront shows: make this node's cache see it now.
            await services.catalogCache.catchUp(on: database)
            return try await context.redirect(
                to: "/admin/inventory/variants/\(id)",
                notice: "Stock of \(response.level.sku) adjusted: \(response.level.onHand) on hand, \(response.level.available) available.")
        }
    }

    /// A variant's levels at every location, the adjustment form (with what was posted and why
    /// it was refused, when it was) and a page of its movements, oldest first.
    static func variantPage(
        _ request: Request, _ context: AdminContext, services: BackOfficeServices, form: [String: String], error: String?
    ) async throws -> Response {
        let store = services.inventory, database = services.database
        let id: ID<Variant> = try context.base.pathID(notFound: "There is no variant with this id.")
        guard let variant = try await store.variant(id, on: database) else { throw Problem.notFound("There is no variant with this id.") }
        let page = try PageRequest(request)
        let product = try await services.catalog.store.productRow(idOrHandle: variant.productID, on: database)
        let locations = try await store.locations(on: database)
        var levels: [[String: Any]] = []
        for location in locations {
            let level = try await store.level(variant: id, location: location.id, on: database)
            levels.append([
                "location": location.name, "code": location.code, "on_hand": String(level?.onHand ?? 0),
                "reserved": String(level?.reserved ?? 0), "available": String(level?.available ?? 0),
            ])
        }
        let names = Dictionary(uniqueKeysWithValues: locations.map { ($0.id, $0.name) })
        let movements = try await store.movements(.init(sku: variant.sku, after: page.after, limit: page.limit), on: database)
        let shown = Page(movements.map { $0.id.description }, limit: page.limit, id: { $0 })
        let selectedLocation = form["location_id"] ?? locations.first?.id.description
        var values: [String: Any] = [
            "variant": ["id": id.description, "sku": variant.sku, "threshold": String(variant.lowStockThreshold)],
            "levels": levels, "has_locations": !locations.isEmpty,
            "locations": CatalogViews.options(locations.map { (value: $0.id.description, label: $0.name) }, selected: selectedLocation),
            "reasons": CatalogViews.options(InventoryRoutes.reasons.map { (value: $0, label: $0) }, selected: form["reason"] ?? "received"),
            "modes": CatalogViews.options([(value: "delta", label: "Add or take away"), (value: "count", label: "Set to a count")],
                                          selected: form["mode"] ?? "delta"),
            "quantity": form["quantity"] ?? "", "reference": form["reference"] ?? "",
            "movements": movements.prefix(page.limit).map { movement -> [String: Any] in
                [
                    "at": CatalogViews.time(movement.createdAt), "location": names[movement.locationID] ?? movement.locationID.description,
                    "on_hand": signed(movement.onHandDelta), "reserved": signed(movement.reservedDelta), "reason": movement.reason,
                    "reference": movement.reference ?? "", "actor": movement.actor.map { "\($0.type) \($0.id)" } ?? "",
                ]
            },
            "may_write": context.may(write),
        ]
        if let product { values["product"] = ["id": product.id.description, "title": product.title] }
        if let error { values["error"] = error }
        if let next = shown.nextCursor {
            values["next"] = CatalogViews.link("/admin/inventory/variants/\(id)", [("cursor", next)])
        }
        return context.render("inventory_variant", title: "Stock of \(variant.sku)", values, status: error == nil ? .ok : .unprocessableContent)
    }

    private static func signed(_ value: Int64) -> String { value > 0 ? "+\(value)" : String(value) }
}
