import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes

/// Every change to the catalog: validated, written in one transaction with its derived rows,
/// its audit entry and a `catalog_changes` row naming what changed (for other nodes), and
/// then applied to the local cache at once.
struct CatalogService: Sendable {
    let database: any Database
    let store: CatalogStore
    let audit: AuditLog
    let outbox: Outbox
    let cache: CatalogCache
    let clock: any WallClock
    let ids: any IDGenerator

    /// Who is writing and from where; the command line has no request.
    struct Author: Sendable {
        let actor: AuditLog.Actor?
        let origin: RequestOrigin?

        static let commandLine = Author(actor: nil, origin: RequestOrigin(clientAddress: "command line", requestID: "-"))
    }

    // MARK: Products

    func createProduct(_ input: ProductInput, by author: Author) async throws -> Product {
        var errors: [Problem.FieldError] = []
        if input.handle == nil { errors.append(.init(pointer: "/handle", detail: "is required")) }
        if input.title == nil { errors.append(.init(pointer: "/title", detail: "is required")) }
        CatalogRules.check(product: input, into: &errors)
        let options = input.options ?? []
        for (index, variant) in (input.variants ?? []).enumerated() {
            if variant.sku == nil { errors.append(.init(pointer: "/variants/\(index)/sku", detail: "is required")) }
            CatalogRules.check(variant: variant, optionCount: options.count, at: "/variants/\(index)", into: &errors)
        }
        guard errors.isEmpty, let handle = input.handle, let title = input.title else { throw Problem.validation(errors) }
        let now = clock.now()
        var product = Product(
            id: ids.make(), handle: handle, title: title.trimmingCharacters(in: .whitespacesAndNewlines),
            description: input.description ?? "", status: input.status ?? .draft,
            categoryID: input.categoryID.flatMap(ID.init), tags: input.tags ?? [], images: input.images ?? [],
            attributes: input.attributes ?? [:], options: options, version: 1, createdAt: now, updatedAt: now, variants: [])
        product.variants = (input.variants ?? []).enumerated().map { index, variant in
            makeVariant(variant, of: product.id, position: Int64(index), at: now)
        }
        let created = product
        try await write(action: "product.created", target: product.id.description, by: author) { db in
            try await requireCategory(created.categoryID, pointer: "/category_id", on: db)
            try await store.insert(created, on: db)
            for variant in created.variants { try await store.insert(variant, on: db) }
            try await store.refreshDerived(created.id, on: db)
            return ((), CatalogChange(products: [created.id], lists: created.status == .active))
        }
        return created
    }

    func updateProduct(
        _ id: ID<Product>, with body: StrictBody<ProductInput>, expecting precondition: Int64?, by author: Author
    ) async throws -> Product {
        let input = body.value
        var errors: [Problem.FieldError] = []
        CatalogRules.check(product: input, into: &errors)
        if input.variants != nil { errors.append(.init(pointer: "/variants", detail: "change variants at /v1/admin/products/{id}/variants")) }
        for member in ["handle", "title", "status", "tags", "images", "attributes", "options", "description"]
        where body.nullMembers.contains(member) {
            errors.append(.init(pointer: "/" + member, detail: "must not be null"))
        }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        return try await write(action: "product.updated", target: id.description, by: author) { db in
            var product = try await existingProduct(id, expecting: precondition, on: db)
            let before = product
            if let handle = input.handle { product.handle = handle }
            if let title = input.title { product.title = title.trimmingCharacters(in: .whitespacesAndNewlines) }
            if let description = input.description { product.description = description }
            if let status = input.status { product.status = status }
            if let categoryID = input.categoryID { product.categoryID = ID(categoryID) }
            if body.nullMembers.contains("category_id") { product.categoryID = nil }
            if let tags = input.tags { product.tags = tags }
            if let images = input.images { product.images = images }
            if let attributes = input.attributes { product.attributes = attributes }
            if let options = input.options {
                guard product.variants.allSatisfy({ $0.optionValues.count == options.count }) else {
                    throw Problem.validation([.init(pointer: "/options", detail: "every variant must keep one value per option; change the variants first")])
                }
                product.options = options
            }
            product.updatedAt = clock.now()
            try await requireCategory(product.categoryID, pointer: "/category_id", on: db)
            guard let version = try await store.update(product, expectedVersion: product.version, on: db) else {
                throw Problem.preconditionFailed
            }
            product.version = version
            try await store.refreshDerived(product.id, on: db)
            try await announce(product, on: db)
            // What lists show, filter, search or sort by; images, attributes and options show
            // on list pages and product pages, which depend on the product itself.
            let listed = before.status != product.status || before.categoryID != product.categoryID
                || before.title != product.title || before.description != product.description
                || before.tags != product.tags || before.handle != product.handle
            return (product, CatalogChange(products: [product.id], lists: listed))
        }
    }

    /// Removes a product and its variants. Orders keep their own copies of titles, SKUs and
    /// prices, so a sold product could go too; archiving is what the shop should do with one
    /// (`status: archived`), which keeps it out of the storefront and in reports.
    static func sold(_ what: String) -> Problem {
        Problem(.conflict, slug: "has-orders", title: "Has orders",
                detail: "This \(what) has been ordered and cannot be deleted; archive the product instead (status archived).")
    }

    func deleteProduct(_ id: ID<Product>, expecting precondition: Int64?, by author: Author) async throws {
        try await write(action: "product.deleted", target: id.description, by: author) { db in
            _ = try await existingProduct(id, expecting: precondition, on: db)
            // Orders keep their own copy of what was sold, but a sold product stays so that
            // reports and links from orders lead somewhere.
            if try await store.hasBeenSold(product: id, on: db) { throw Self.sold("product") }
            try await store.delete(id, on: db)
            return ((), CatalogChange(products: [id], lists: true))
        }
    }

    // MARK: Variants

    func addVariant(
        to productID: ID<Product>, _ input: VariantInput, expecting precondition: Int64?, by author: Author
    ) async throws -> Product {
        try await write(action: "variant.created", target: productID.description, by: author) { db in
            var product = try await existingProduct(productID, expecting: precondition, on: db)
            var errors: [Problem.FieldError] = []
            if input.sku == nil { errors.append(.init(pointer: "/sku", detail: "is required")) }
            CatalogRules.check(variant: input, optionCount: product.options.count, at: "", into: &errors)
            if input.optionValues == nil, !product.options.isEmpty {
                errors.append(.init(pointer: "/option_values", detail: "is required: the product has options"))
            }
            guard errors.isEmpty else { throw Problem.validation(errors) }
            let position = (product.variants.map(\.position).max() ?? -1) + 1
            let variant = makeVariant(input, of: productID, position: position, at: clock.now())
            try await store.insert(variant, on: db)
            product.variants.append(variant)
            return (try await touched(product, on: db), CatalogChange(products: [productID], lists: true))
        }
    }

    func updateVariant(
        _ variantID: ID<Variant>, of productID: ID<Product>, with body: StrictBody<VariantInput>,
        expecting precondition: Int64?, by author: Author
    ) async throws -> Product {
        let input = body.value
        return try await write(action: "variant.updated", target: variantID.description, by: author) { db in
            var product = try await existingProduct(productID, expecting: precondition, on: db)
            guard let index = product.variants.firstIndex(where: { $0.id == variantID }) else {
                throw Problem.notFound("The product has no variant with this id.")
            }
            var errors: [Problem.FieldError] = []
            CatalogRules.check(variant: input, optionCount: product.options.count, at: "", into: &errors)
            guard errors.isEmpty else { throw Problem.validation(errors) }
            var variant = product.variants[index]
            let before = variant
            if let sku = input.sku { variant.sku = sku }
            if let title = input.title { variant.title = title }
            if let values = input.optionValues { variant.optionValues = values }
            if let weight = input.weightGrams { variant.weightGrams = weight }
            if let dimensions = input.dimensionsMM { variant.dimensions = dimensions }
            if body.nullMembers.contains("dimensions_mm") { variant.dimensions = nil }
            if let barcode = input.barcode { variant.barcode = barcode }
            if body.nullMembers.contains("barcode") { variant.barcode = nil }
            if let prices = input.prices { variant.prices = Self.priceTable(prices) }
            if let threshold = input.lowStockThreshold { variant.lowStockThreshold = threshold }
            if let backorder = input.backorder { variant.backorder = backorder }
            variant.updatedAt = clock.now()
            try await store.update(variant, on: db)
            product.variants[index] = variant
            // Prices order and filter lists; SKUs and titles are searched.
            let listed = before.prices != variant.prices || before.sku != variant.sku || before.title != variant.title
            return (try await touched(product, on: db), CatalogChange(products: [productID], lists: listed))
        }
    }

    func deleteVariant(
        _ variantID: ID<Variant>, of productID: ID<Product>, expecting precondition: Int64?, by author: Author
    ) async throws -> Product {
        try await write(action: "variant.deleted", target: variantID.description, by: author) { db in
            var product = try await existingProduct(productID, expecting: precondition, on: db)
            guard product.variants.contains(where: { $0.id == variantID }) else {
                throw Problem.notFound("The product has no variant with this id.")
            }
            if try await store.hasBeenSold(product: productID, variant: variantID, on: db) { throw Self.sold("variant") }
            try await store.delete(variantID, on: db)
            product.variants.removeAll { $0.id == variantID }
            return (try await touched(product, on: db), CatalogChange(products: [productID], lists: true))
        }
    }

    // MARK: Categories

    func createCategory(_ input: CategoryInput, by author: Author) async throws -> Category {
        var errors: [Problem.FieldError] = []
        if input.slug == nil { errors.append(.init(pointer: "/slug", detail: "is required")) }
        if input.name == nil { errors.append(.init(pointer: "/name", detail: "is required")) }
        CatalogRules.check(category: input, into: &errors)
        guard errors.isEmpty, let slug = input.slug, let name = input.name else { throw Problem.validation(errors) }
        let now = clock.now()
        let category = Category(
            id: ids.make(), parentID: input.parentID.flatMap(ID.init), slug: slug,
            name: name.trimmingCharacters(in: .whitespacesAndNewlines), position: input.position ?? 0, version: 1,
            createdAt: now, updatedAt: now)
        try await write(action: "category.created", target: category.id.description, by: author) { db in
            try await requireCategory(category.parentID, pointer: "/parent_id", on: db)
            try await store.insert(category, on: db)
            return ((), CatalogChange(categories: true))
        }
        return category
    }

    func updateCategory(
        _ id: ID<Category>, with body: StrictBody<CategoryInput>, expecting precondition: Int64?, by author: Author
    ) async throws -> Category {
        let input = body.value
        var errors: [Problem.FieldError] = []
        CatalogRules.check(category: input, into: &errors)
        for member in ["slug", "name", "position"] where body.nullMembers.contains(member) {
            errors.append(.init(pointer: "/" + member, detail: "must not be null"))
        }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        return try await write(action: "category.updated", target: id.description, by: author) { db in
            let tree = CategoryTree(try await store.categories(on: db))
            guard var category = tree.categories.first(where: { $0.id == id }) else {
                throw Problem.notFound("There is no category with this id.")
            }
            if let precondition, precondition != category.version { throw Problem.preconditionFailed }
            if let slug = input.slug { category.slug = slug }
            if let name = input.name { category.name = name.trimmingCharacters(in: .whitespacesAndNewlines) }
            if let position = input.position { category.position = position }
            if let parent = input.parentID.flatMap(ID<Category>.init) {
                guard tree.categories.contains(where: { $0.id == parent }) else {
                    throw Problem.validation([.init(pointer: "/parent_id", detail: "names no category")])
                }
                guard !tree.wouldCycle(id, under: parent) else {
                    throw Problem.validation([.init(pointer: "/parent_id", detail: "must not be the category itself or below it")])
                }
                category.parentID = parent
            }
            if body.nullMembers.contains("parent_id") { category.parentID = nil }
            category.updatedAt = clock.now()
            guard let version = try await store.update(category, expectedVersion: category.version, on: db) else {
                throw Problem.preconditionFailed
            }
            category.version = version
            return (category, CatalogChange(categories: true))
        }
    }

    /// Refused while the category has subcategories; its products become uncategorised.
    func deleteCategory(_ id: ID<Category>, expecting precondition: Int64?, by author: Author) async throws {
        try await write(action: "category.deleted", target: id.description, by: author) { db in
            let tree = CategoryTree(try await store.categories(on: db))
            guard let category = tree.categories.first(where: { $0.id == id }) else {
                throw Problem.notFound("There is no category with this id.")
            }
            if let precondition, precondition != category.version { throw Problem.preconditionFailed }
            guard tree.children(of: id).isEmpty else {
                throw Problem(.conflict, slug: "category-has-children", title: "Category has subcategories",
                              detail: "Move or delete its subcategories first.")
            }
            // Its products become uncategorised: their pages and the lists change too.
            let products = try await store.productIDs(inCategory: id, on: db)
            try await store.delete(id, on: db)
            return ((), CatalogChange(products: Set(products), categories: true, lists: !products.isEmpty))
        }
    }

    // MARK: Internals

    /// Runs `body` in a transaction with its audit entry and the log row of what it says it
    /// changed, then applies that change to the local cache (other nodes follow the log).
    /// Unique violations become the 409 a client can act on.
    @discardableResult
    func write<Result: Sendable>(
        action: String, target: String, by author: Author,
        _ body: @Sendable (any SQLExecutor) async throws -> (Result, CatalogChange)
    ) async throws -> Result {
        do {
            let (result, change) = try await database.transaction { db in
                let (result, change) = try await body(db)
                try await audit.record(.init(actor: author.actor, action: action, target: target, origin: author.origin), on: db)
                // Marked before the commit, so that the feed, which may read the row the moment
                // it commits, leaves it to the line below.
                if let seq = try await CatalogChanges.record(change, on: db) { cache.appliedLocally(seq) }
                return (result, change)
            }
            cache.apply(change)
            return result
        } catch DatabaseError.uniqueViolation(let constraint) {
            throw Self.conflict(constraint)
        }
    }

    static func conflict(_ constraint: String?) -> Problem {
        let name = constraint ?? ""
        if name.contains("sku") {
            return Problem(.conflict, slug: "sku-taken", title: "SKU in use", detail: "Another variant has this SKU.")
        }
        if name.contains("slug") {
            return Problem(.conflict, slug: "slug-taken", title: "Slug in use", detail: "Another category has this slug.")
        }
        return Problem(.conflict, slug: "handle-taken", title: "Handle in use", detail: "Another product has this handle.")
    }

    private func existingProduct(_ id: ID<Product>, expecting precondition: Int64?, on db: any SQLExecutor) async throws -> Product {
        guard let product = try await store.product(idOrHandle: id.description, on: db) else {
            throw Problem.notFound("There is no product with this id.")
        }
        if let precondition, precondition != product.version { throw Problem.preconditionFailed }
        return product
    }

    /// Moves the product's version on after a variant change and rewrites its derived rows.
    private func touched(_ product: Product, on db: any SQLExecutor) async throws -> Product {
        var product = product
        product.updatedAt = clock.now()
        guard try await store.touch(product.id, expectedVersion: product.version, at: product.updatedAt, on: db) else {
            throw Problem.preconditionFailed
        }
        product.version += 1
        try await store.refreshDerived(product.id, on: db)
        try await announce(product, on: db)
        return product
    }

    /// `product.updated`, for webhooks: after any change to a product or its variants.
    private func announce(_ product: Product, on db: any SQLExecutor) async throws {
        struct Payload: Encodable {
            let productID: String
            let handle: String
            let status: String
            let version: Int64

            enum CodingKeys: String, CodingKey {
                case handle, status, version
                case productID = "product_id"
            }
        }
        try await outbox.record(
            "product.updated", aggregate: "product", id: product.id.description,
            payload: Payload(productID: product.id.description, handle: product.handle, status: product.status.rawValue,
                             version: product.version),
            at: product.updatedAt, on: db)
    }

    private func requireCategory(_ id: ID<Category>?, pointer: String, on db: any SQLExecutor) async throws {
        guard let id else { return }
        guard try await store.categoryExists(id, on: db) else {
            throw Problem.validation([.init(pointer: pointer, detail: "names no category")])
        }
    }

    private func makeVariant(_ input: VariantInput, of productID: ID<Product>, position: Int64, at now: Date) -> Variant {
        Variant(
            id: ids.make(), productID: productID, sku: input.sku ?? "", title: input.title ?? (input.optionValues ?? []).joined(separator: " / "),
            optionValues: input.optionValues ?? [], weightGrams: input.weightGrams ?? 0, barcode: input.barcode,
            position: position, lowStockThreshold: input.lowStockThreshold ?? 0, backorder: input.backorder ?? .deny,
            prices: Self.priceTable(input.prices ?? []), createdAt: now, updatedAt: now, dimensions: input.dimensionsMM)
    }

    static func priceTable(_ prices: [PriceInput]) -> [String: Int64] {
        Dictionary(prices.map { ($0.currency, $0.amount) }, uniquingKeysWith: { _, last in last })
    }
}

extension Problem {
    static let preconditionFailed = Problem(
        .preconditionFailed, slug: "precondition-failed", title: "Changed meanwhile",
        detail: "The resource changed since you read it (its ETag differs from If-Match); read it again and retry.")
}
