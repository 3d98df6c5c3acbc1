import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/admin/products`: the product list with search and filters, a product's page (its fields,
/// variants and prices), creating one and archiving one. Every change goes through
/// `CatalogService`, as `/v1/admin/products` does, so the same rules and audit entries apply.
enum CatalogProductPages: AdminSection {
    static let templates: [String: [UInt8]] = [
        "catalog_products": PackageResources.admin_catalog_products_mustache,
        "catalog_product": PackageResources.admin_catalog_product_mustache,
        "catalog_archive": PackageResources.admin_catalog_archive_mustache,
    ]

    static let read = Access.roleOrScope(.staff, .catalogRead)
    static let write = Access.roleOrScope(.staff, .catalogWrite)
    static let productFields = ["handle", "title", "description", "status", "category_id", "tags", "options", "version"]

    static func register(on routes: AdminRoutes, services: BackOfficeServices) {
        let catalog = services.catalog

        routes.page("/admin/products", access: read, menu: .init(label: "Products", order: 20)) { request, context in
            try await list(request, context, catalog)
        }

        // Before `/admin/products/:id`, which would otherwise take "new" for an id.
        routes.page("/admin/products/new", access: write) { _, context in
            let tree = CategoryTree(try await catalog.store.categories(on: catalog.database))
            return Self.form(context, tree: tree, values: ["status": "draft"], errors: .init(), product: nil)
        }

        routes.action("/admin/products", access: write) { _, context, form in
            let (input, _) = CatalogForms.product(form.values)
            do {
                let product = try await catalog.createProduct(input, by: context.author)
                return try await context.redirect(to: "/admin/products/\(product.id)", notice: "Product \(product.title) created.")
            } catch let problem as Problem where problem.status.code < 500 {
                let tree = CategoryTree(try await catalog.store.categories(on: catalog.database))
                return Self.form(context, tree: tree, values: form.values, errors: .init(problem), product: nil, status: .unprocessableContent)
            }
        }

        routes.page("/admin/products/:id", access: read) { _, context in
            let product = try await existing(context, catalog)
            let tree = CategoryTree(try await catalog.store.categories(on: catalog.database))
            return Self.form(context, tree: tree, values: CatalogForms.productValues(product), errors: .init(), product: product)
        }

        routes.action("/admin/products/:id", access: write) { _, context, form in
            let id: ID<Product> = try context.base.pathID(notFound: "There is no product with this id.")
            let (input, nulls) = CatalogForms.product(form.values)
            let body = StrictBody(value: input, nullMembers: nulls, data: Data())
            do {
                let product = try await catalog.updateProduct(id, with: body, expecting: CatalogForms.version(form.values), by: context.author)
                return try await context.redirect(to: "/admin/products/\(product.id)", notice: "Product \(product.title) saved.")
            } catch let problem as Problem where problem.status == .preconditionFailed {
                // Someone saved first: show what is there now, and what this member meant to save.
                let current = try await existing(context, catalog)
                let tree = CategoryTree(try await catalog.store.categories(on: catalog.database))
                var errors = CatalogForms.Errors()
                errors.general.append(Self.staleMessage)
                return Self.form(
                    context, tree: tree, values: CatalogForms.productValues(current), errors: errors, product: current,
                    status: .conflict, yours: form.values)
            } catch let problem as Problem where problem.status.code < 500 && problem.status != .notFound {
                let current = try await existing(context, catalog)
                let tree = CategoryTree(try await catalog.store.categories(on: catalog.database))
                return Self.form(context, tree: tree, values: form.values, errors: .init(problem), product: current, status: .unprocessableContent)
            }
        }

        routes.page("/admin/products/:id/archive", access: write) { _, context in
            let product = try await existing(context, catalog)
            return context.render("catalog_archive", title: "Archive \(product.title)", [
                "product": ["id": product.id.description, "title": product.title, "version": String(product.version),
                            "archived": product.status == .archived] as [String: Any],
            ])
        }

        routes.action("/admin/products/:id/archive", access: write, returnTo: { request, _ in request.uri.path }) { _, context, form in
            try context.requireConfirmation(form)
            let id: ID<Product> = try context.base.pathID(notFound: "There is no product with this id.")
            var input = ProductInput()
            input.status = .archived
            do {
                let product = try await catalog.updateProduct(
                    id, with: StrictBody(value: input, nullMembers: [], data: Data()), expecting: CatalogForms.version(form.values),
                    by: context.author)
                return try await context.redirect(to: "/admin/products/\(product.id)", notice: "Product \(product.title) archived.")
            } catch let problem as Problem where problem.status == .preconditionFailed {
                return try await context.redirect(to: "/admin/products/\(id)/archive", error: Self.staleMessage)
            }
        }
    }

    static let staleMessage =
        "Someone else saved this product while you were editing it. The form now shows the saved values; your changes were not saved. Make them again if they still apply."

    private static func existing(_ context: AdminContext, _ catalog: CatalogService) async throws -> Product {
        let id: ID<Product> = try context.base.pathID(notFound: "There is no product with this id.")
        guard let product = try await catalog.store.product(idOrHandle: id.description, on: catalog.database) else {
            throw Problem.notFound("There is no product with this id.")
        }
        return product
    }

    private static func list(_ request: Request, _ context: AdminContext, _ catalog: CatalogService) async throws -> Response {
        let page = try PageRequest(request)
        let query = request.uri.queryParameters
        let tree = CategoryTree(try await catalog.store.categories(on: catalog.database))
        var filter = CatalogStore.AdminProductFilter(before: page.after, limit: page.limit)
        var errors: [Problem.FieldError] = []
        let q = query["q"].map(String.init) ?? ""
        filter.words = CatalogSearchSchema.words(q)
        if q.count > 200 { errors.append(.init(parameter: "q", detail: "must be at most 200 characters")) }
        let status = query["status"].map(String.init) ?? ""
        if !status.isEmpty {
            if let value = Product.Status(rawValue: status) { filter.status = value } else {
                errors.append(.init(parameter: "status", detail: "must be draft, active or archived"))
            }
        }
        let category = query["category"].map(String.init) ?? ""
        if !category.isEmpty {
            if let id = ID<Category>(category), tree.categories.contains(where: { $0.id == id }) { filter.category = id } else {
                errors.append(.init(parameter: "category", detail: "names no category"))
            }
        }
        guard errors.isEmpty else { throw Problem.validation(errors, detail: "The filters are not valid.") }
        let rows = try await catalog.store.adminProducts(filter, on: catalog.database)
        let shown = Page(rows.map { $0.id.description }, limit: page.limit, id: { $0 })
        let names = Dictionary(uniqueKeysWithValues: tree.categories.map { ($0.id, $0.name) })
        let products = rows.prefix(page.limit).map { product -> [String: Any] in
            [
                "id": product.id.description, "title": product.title, "handle": product.handle, "status": product.status.rawValue,
                "category": product.categoryID.flatMap { names[$0] } ?? "", "variants": String(product.variants.count),
                "skus": product.variants.map(\.sku).joined(separator: ", "), "updated_at": CatalogViews.time(product.updatedAt),
            ]
        }
        var values: [String: Any] = [
            "products": products, "q": q, "statuses": CatalogViews.statusOptions(selected: status, any: true),
            "categories": CatalogViews.categoryOptions(tree, selected: category, none: "Any category"),
            "may_write": context.may(write), "filtered": !q.isEmpty || !status.isEmpty || !category.isEmpty,
        ]
        if let next = shown.nextCursor {
            values["next"] = CatalogViews.link("/admin/products", [("q", q), ("status", status), ("category", category), ("cursor", next)])
        }
        return context.render("catalog_products", title: "Products", values)
    }

    /// The product form: new (`product` nil) or the product's page with its variants. `yours`
    /// is what a stale edit tried to save, shown beside the current values.
    static func form(
        _ context: AdminContext, tree: CategoryTree, values: CatalogForms.Fields, errors: CatalogForms.Errors, product: Product?,
        status: HTTPResponse.Status = .ok, yours: CatalogForms.Fields? = nil
    ) -> Response {
        var view: [String: Any] = [
            "fields": CatalogViews.fields(values, errors: errors, names: productFields),
            "statuses": CatalogViews.statusOptions(selected: values["status"], any: false),
            "categories": CatalogViews.categoryOptions(tree, selected: values["category_id"], none: "No category"),
            "errors": errors.general.map { ["text": $0] } + errors.fields.sorted { $0.key < $1.key }.map { ["text": "\($0.key): \($0.value)"] },
            "has_errors": !errors.isEmpty, "may_write": context.may(write),
        ]
        if let yours {
            let changed = productFields.filter { $0 != "version" && (yours[$0] ?? "") != (values[$0] ?? "") }
            view["yours"] = changed.map { ["name": $0, "value": yours[$0] ?? ""] }
            view["has_yours"] = !changed.isEmpty
        }
        if let product {
            view["product"] = [
                "id": product.id.description, "title": product.title, "version": String(product.version),
                "created_at": CatalogViews.time(product.createdAt), "updated_at": CatalogViews.time(product.updatedAt),
                "archived": product.status == .archived,
                "variants": product.variants.map { variant -> [String: Any] in
                    [
                        "id": variant.id.description, "sku": variant.sku, "title": variant.title,
                        "options": variant.optionValues.joined(separator: " / "), "prices": CatalogViews.prices(variant.prices),
                        "backorder": variant.backorder == .allow,
                    ]
                },
            ] as [String: Any]
        }
        let title = product.map { "Product: \($0.title)" } ?? "New product"
        return context.render("catalog_product", title: title, view, status: status)
    }
}

extension AdminContext {
    /// Who writes, for `CatalogService`: the member, from this request.
    var author: CatalogService.Author { .init(actor: actor, origin: origin) }
}
