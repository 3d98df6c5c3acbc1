import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/admin/products/{id}/variants`: adding a variant to a product, changing one (its SKU,
/// option values, prices and stock rules) and deleting one. Through `CatalogService`, as
/// `/v1/admin/products/{id}/variants` does; each form carries the product's version, so a
/// change made meanwhile is refused and shown rather than overwritten.
enum CatalogVariantPages: AdminSection {
    static let templates: [String: [UInt8]] = [
        "catalog_variant": PackageResources.admin_catalog_variant_mustache
    ]

    static let variantFields = ["sku", "title", "weight_grams", "low_stock_threshold", "backorder", "barcode", "version"]

    static func register(on routes: AdminRoutes, services: BackOfficeServices) {
        let catalog = services.catalog
        let write = CatalogProductPages.write

        routes.page("/admin/products/:id/variants/new", access: write) { _, context in
            let product = try await Self.product(context, catalog)
            return Self.form(context, product: product, variant: nil, values: ["version": String(product.version), "backorder": "deny"],
                        errors: .init())
        }

        routes.action("/admin/products/:id/variants", access: write) { _, context, form in
            let product = try await Self.product(context, catalog)
            let (input, _, formErrors) = CatalogForms.variant(form.values, optionCount: product.options.count)
            do {
                guard formErrors.isEmpty else { throw FormRefused(errors: formErrors) }
                let saved = try await catalog.addVariant(to: product.id, input, expecting: CatalogForms.version(form.values), by: context.author)
                return try await context.redirect(to: "/admin/products/\(saved.id)", notice: "Variant \(input.sku ?? "") added.")
            } catch let refused as FormRefused {
                return Self.form(context, product: product, variant: nil, values: form.values, errors: refused.errors, status: .unprocessableContent)
            } catch let problem as Problem where problem.status == .preconditionFailed {
                let current = try await Self.product(context, catalog)
                var values = form.values
                values["version"] = String(current.version)
                return Self.form(context, product: current, variant: nil, values: values, errors: stale, status: .conflict)
            } catch let problem as Problem where problem.status.code < 500 && problem.status != .notFound {
                return Self.form(context, product: product, variant: nil, values: form.values, errors: .init(problem), status: .unprocessableContent)
            }
        }

        routes.page("/admin/products/:id/variants/:variant_id", access: CatalogProductPages.read) { _, context in
            let product = try await Self.product(context, catalog)
            let variant = try Self.variant(context, of: product)
            var values = CatalogForms.variantValues(variant)
            values["version"] = String(product.version)
            return Self.form(context, product: product, variant: variant, values: values, errors: .init())
        }

        routes.action("/admin/products/:id/variants/:variant_id", access: write) { _, context, form in
            let product = try await Self.product(context, catalog)
            let variant = try Self.variant(context, of: product)
            let (input, nulls, formErrors) = CatalogForms.variant(form.values, optionCount: product.options.count)
            do {
                guard formErrors.isEmpty else { throw FormRefused(errors: formErrors) }
                _ = try await catalog.updateVariant(
                    variant.id, of: product.id, with: StrictBody(value: input, nullMembers: nulls, data: Data()),
                    expecting: CatalogForms.version(form.values), by: context.author)
                return try await context.redirect(to: "/admin/products/\(product.id)", notice: "Variant \(input.sku ?? variant.sku) saved.")
            } catch let refused as FormRefused {
                return Self.form(context, product: product, variant: variant, values: form.values, errors: refused.errors, status: .unprocessableContent)
            } catch let problem as Problem where problem.status == .preconditionFailed {
                // Show the variant as it is now; the product's version moves on with any change to it.
                let current = try await Self.product(context, catalog)
                let now = try Self.variant(context, of: current)
                var values = CatalogForms.variantValues(now)
                values["version"] = String(current.version)
                return Self.form(context, product: current, variant: now, values: values, errors: stale, status: .conflict)
            } catch let problem as Problem where problem.status.code < 500 && problem.status != .notFound {
                return Self.form(context, product: product, variant: variant, values: form.values, errors: .init(problem), status: .unprocessableContent)
            }
        }

        routes.action(
            "/admin/products/:id/variants/:variant_id/delete", access: write,
            returnTo: { request, _ in String(request.uri.path.dropLast("/delete".count)) }
        ) { _, context, form in
            try context.requireConfirmation(form)
            let product = try await Self.product(context, catalog)
            let variant = try Self.variant(context, of: product)
            do {
                _ = try await catalog.deleteVariant(variant.id, of: product.id, expecting: CatalogForms.version(form.values), by: context.author)
            } catch let problem as Problem where problem.status == .preconditionFailed {
                throw Problem(.conflict, slug: "stale", title: "Changed meanwhile", detail: CatalogProductPages.staleMessage)
            }
            return try await context.redirect(to: "/admin/products/\(product.id)", notice: "Variant \(variant.sku) deleted.")
        }
    }

    /// Errors a form has before the service sees it (a price that is not an amount).
    struct FormRefused: Error {
        let errors: CatalogForms.Errors
    }

    static var stale: CatalogForms.Errors {
        var errors = CatalogForms.Errors()
        errors.general.append(CatalogProductPages.staleMessage)
        return errors
    }

    private static func product(_ context: AdminContext, _ catalog: CatalogService) async throws -> Product {
        let id: ID<Product> = try context.base.pathID(notFound: "There is no product with this id.")
        guard let product = try await catalog.store.product(idOrHandle: id.description, on: catalog.database) else {
            throw Problem.notFound("There is no product with this id.")
        }
        return product
    }

    private static func variant(_ context: AdminContext, of product: Product) throws -> Variant {
        let id: ID<Variant> = try context.base.pathID("variant_id", notFound: "The product has no variant with this id.")
        guard let variant = product.variants.first(where: { $0.id == id }) else {
            throw Problem.notFound("The product has no variant with this id.")
        }
        return variant
    }

    static func form(
        _ context: AdminContext, product: Product, variant: Variant?, values: CatalogForms.Fields, errors: CatalogForms.Errors,
        status: HTTPResponse.Status = .ok
    ) -> Response {
        let options = product.options.enumerated().map { index, name -> [String: Any] in
            var option: [String: Any] = ["index": String(index), "name": name, "value": values["option_value_\(index)"] ?? ""]
            // Mustache shows a section for any string, even an empty one: only a real error is set.
            if let error = errors.fields["option_values/\(index)"] ?? errors.fields["option_values"] { option["error"] = error }
            return option
        }
        // The rows posted (or the variant's prices) and one empty row to add a currency.
        var rows: [[String: Any]] = []
        var index = 0
        while let currency = values["price_currency_\(index)"] {
            rows.append(["index": String(index), "currency": currency, "amount": values["price_amount_\(index)"] ?? ""])
            index += 1
        }
        rows.append(["index": String(index), "currency": "", "amount": ""])
        var view: [String: Any] = [
            "product": ["id": product.id.description, "title": product.title],
            "fields": CatalogViews.fields(values, errors: errors, names: variantFields),
            "options": options, "prices": rows,
            "backorders": CatalogViews.options([(value: "deny", label: "No: stop selling at zero"), (value: "allow", label: "Yes: keep selling")],
                                               selected: values["backorder"]),
            "errors": errors.general.map { ["text": $0] } + errors.fields.sorted { $0.key < $1.key }.map { ["text": "\($0.key): \($0.value)"] },
            "has_errors": !errors.isEmpty, "may_write": context.may(CatalogProductPages.write),
        ]
        if let variant { view["variant"] = ["id": variant.id.description, "sku": variant.sku] }
        let title = variant.map { "Variant \($0.sku) of \(product.title)" } ?? "New variant of \(product.title)"
        return context.render("catalog_variant", title: title, view, status: status)
    }
}
