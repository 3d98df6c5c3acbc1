import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/admin/categories`: the category tree, creating a category and changing one, through
/// `CatalogService` as `/v1/admin/categories` does. The edit form carries the category's
/// version, so a change saved meanwhile is shown, not overwritten.
enum CatalogCategoryPages: AdminSection {
    static let templates: [String: [UInt8]] = [
        "catalog_categories": PackageResources.admin_catalog_categories_mustache,
        "catalog_category": PackageResources.admin_catalog_category_mustache,
    ]

    static let categoryFields = ["slug", "name", "parent_id", "position", "version"]

    static func register(on routes: AdminRoutes, services: BackOfficeServices) {
        let catalog = services.catalog
        let write = CatalogProductPages.write

        routes.page("/admin/categories", access: CatalogProductPages.read, menu: .init(label: "Categories", order: 25)) { _, context in
            let tree = CategoryTree(try await catalog.store.categories(on: catalog.database))
            let rows = CatalogViews.categoryChoices(tree).map { entry -> [String: Any] in
                ["id": entry.category.id.description, "name": entry.category.name, "path": entry.label,
                 "slug": entry.category.slug, "position": String(entry.category.position), "depth": String(entry.depth)]
            }
            return context.render("catalog_categories", title: "Categories", ["categories": rows, "may_write": context.may(write)])
        }

        routes.page("/admin/categories/new", access: write) { _, context in
            let tree = CategoryTree(try await catalog.store.categories(on: catalog.database))
            return Self.form(context, tree: tree, category: nil, values: ["position": "0"], errors: .init())
        }

        routes.action("/admin/categories", access: write) { _, context, form in
            let (input, _, formErrors) = CatalogForms.category(form.values)
            do {
                guard formErrors.isEmpty else { throw CatalogVariantPages.FormRefused(errors: formErrors) }
                let category = try await catalog.createCategory(input, by: context.author)
                return try await context.redirect(to: "/admin/categories", notice: "Category \(category.name) created.")
            } catch let refused as CatalogVariantPages.FormRefused {
                let tree = CategoryTree(try await catalog.store.categories(on: catalog.database))
                return Self.form(context, tree: tree, category: nil, values: form.values, errors: refused.errors, status: .unprocessableContent)
            } catch let problem as Problem where problem.status.code < 500 {
                let tree = CategoryTree(try await catalog.store.categories(on: catalog.database))
                return Self.form(context, tree: tree, category: nil, values: form.values, errors: .init(problem), status: .unprocessableContent)
            }
        }

        routes.page("/admin/categories/:id", access: CatalogProductPages.read) { _, context in
            let (tree, category) = try await existing(context, catalog)
            return Self.form(context, tree: tree, category: category, values: CatalogForms.categoryValues(category), errors: .init())
        }

        routes.action("/admin/categories/:id", access: write) { _, context, form in
            let (_, category) = try await existing(context, catalog)
            let (input, nulls, formErrors) = CatalogForms.category(form.values)
            do {
                guard formErrors.isEmpty else { throw CatalogVariantPages.FormRefused(errors: formErrors) }
                let saved = try await catalog.updateCategory(
                    category.id, with: StrictBody(value: input, nullMembers: nulls, data: Data()),
                    expecting: CatalogForms.version(form.values), by: context.author)
                return try await context.redirect(to: "/admin/categories", notice: "Category \(saved.name) saved.")
            } catch let refused as CatalogVariantPages.FormRefused {
                let (tree, current) = try await existing(context, catalog)
                return Self.form(context, tree: tree, category: current, values: form.values, errors: refused.errors, status: .unprocessableContent)
            } catch let problem as Problem where problem.status == .preconditionFailed {
                let (tree, current) = try await existing(context, catalog)
                var errors = CatalogForms.Errors()
                errors.general.append(
                    "Someone else saved this category while you were editing it. The form now shows the saved values; your changes were not saved.")
                return Self.form(context, tree: tree, category: current, values: CatalogForms.categoryValues(current), errors: errors, status: .conflict)
            } catch let problem as Problem where problem.status.code < 500 && problem.status != .notFound {
                let (tree, current) = try await existing(context, catalog)
                return Self.form(context, tree: tree, category: current, values: form.values, errors: .init(problem), status: .unprocessableContent)
            }
        }
    }

    private static func existing(_ context: AdminContext, _ catalog: CatalogService) async throws -> (CategoryTree, Category) {
        let id: ID<Category> = try context.base.pathID(notFound: "There is no category with this id.")
        let tree = CategoryTree(try await catalog.store.categories(on: catalog.database))
        guard let category = tree.categories.first(where: { $0.id == id }) else {
            throw Problem.notFound("There is no category with this id.")
        }
        return (tree, category)
    }

    static func form(
        _ context: AdminContext, tree: CategoryTree, category: Category?, values: CatalogForms.Fields, errors: CatalogForms.Errors,
        status: HTTPResponse.Status = .ok
    ) -> Response {
        // A category cannot move below itself: its own subtree is not offered as a parent.
        let excluded = Set(category.map { tree.subtree(of: $0.id) } ?? [])
        let parents = [(value: "", label: "None (top level)")] + CatalogViews.categoryChoices(tree)
            .filter { !excluded.contains($0.category.id) }.map { (value: $0.category.id.description, label: $0.label) }
        var view: [String: Any] = [
            "fields": CatalogViews.fields(values, errors: errors, names: categoryFields),
            "parents": CatalogViews.options(parents, selected: values["parent_id"] ?? ""),
            "errors": errors.general.map { ["text": $0] } + errors.fields.sorted { $0.key < $1.key }.map { ["text": "\($0.key): \($0.value)"] },
            "has_errors": !errors.isEmpty, "may_write": context.may(CatalogProductPages.write),
        ]
        if let category { view["category"] = ["id": category.id.description, "name": category.name] }
        return context.render("catalog_category", title: category.map { "Category: \($0.name)" } ?? "New category", view, status: status)
    }
}
