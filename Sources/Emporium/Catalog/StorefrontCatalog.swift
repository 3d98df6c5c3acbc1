import EmporiumCore
import EmporiumStorage
import Foundation

/// The storefront's reads: list pages, product pages and the category tree, each with what it
/// depends on, for the cache to know which changes drop it. All the SQL behind
/// `StorefrontRoutes` lives here and in `CatalogStore` and `ProductListQuery`.
///
/// Each read runs on the database `reads` picks: a replica that has caught up with the
/// primary, when there is one (`ReadRouting`). What a page shows of stock is a band; adding to
/// a cart and checking out decide on the primary's stock.
struct StorefrontCatalog: Sendable {
    let reads: ReadRouting
    let store: CatalogStore
    let inventory: InventoryStore

    /// An answer and what it shows.
    struct Read<Body: Sendable>: Sendable {
        let body: Body
        let dependencies: Set<CatalogCache.Dependency>
    }

    struct PriceRange: Codable, Sendable {
        let currency: String
        let minAmount: Int64
        let maxAmount: Int64

        enum CodingKeys: String, CodingKey {
            case currency
            case minAmount = "min_amount"
            case maxAmount = "max_amount"
        }
    }

    struct ProductSummary: Codable, Sendable {
        let id: String
        let handle: String
        let title: String
        let categoryID: String?
        let tags: [String]
        let image: Product.Image?
        let prices: [PriceRange]
        let inStock: Bool

        enum CodingKeys: String, CodingKey {
            case id, handle, title, tags, image, prices
            case categoryID = "category_id"
            case inStock = "in_stock"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(handle, forKey: .handle)
            try container.encode(title, forKey: .title)
            try container.encode(categoryID, forKey: .categoryID)
            try container.encode(tags, forKey: .tags)
            try container.encode(image, forKey: .image)
            try container.encode(prices, forKey: .prices)
            try container.encode(inStock, forKey: .inStock)
        }
    }

    struct CategoryTreeResponse: Codable, Sendable {
        let data: [CategoryResponse]
    }

    func categories() async throws -> [Category] {
        try await store.categories(on: await reads.catalog())
    }

    /// The category tree: depends on categories alone.
    func categoryTree(_ tree: CategoryTree) -> Read<CategoryTreeResponse> {
        Read(body: CategoryTreeResponse(data: CategoryResponse.tree(tree)), dependencies: [.categories])
    }

    /// An active product with its variants and their stock bands, or nil. Depends on the
    /// product and its variants' stock.
    func product(idOrHandle key: String) async throws -> Read<ProductResponse>? {
        guard key.utf8.count <= 100, let page = try await store.productPage(idOrHandle: key, on: await reads.catalog()),
            page.product.status == .active
        else { return nil }
        let product = page.product
        var dependencies: Set<CatalogCache.Dependency> = [.product(product.id)]
        for variant in product.variants { dependencies.insert(.stock(variant.id)) }
        return Read(
            body: ProductResponse(
                product, variants: product.variants.map { .storefront($0, available: page.available[$0.id] ?? 0) }),
            dependencies: dependencies)
    }

    /// One page of a list or search. Depends on which products lists show, on each product on
    /// it and its variants' stock (the in-stock flag); with a category filter on the tree, and
    /// when filtered to stock on every stock change.
    func list(_ query: ProductListQuery) async throws -> Read<Page<ProductSummary>> {
        // One database for the whole page: its statements see the same state.
        let database = await reads.catalog()
        let rows = try await database.query(query.sql(for: database.dialect))
        var ids: [ID<Product>] = []
        var sortKeys: [String: String] = [:]
        for row in rows {
            let key: String
            switch query.sort {
            case .title, .newest: key = (try? row.decode("sort_key", as: String.self)) ?? ""
            case .price, .priceDescending: key = String(try row.decode("sort_key", as: Int64.self))
            case .relevance: key = String(try row.decode("sort_key", as: Double.self))
            }
            let id: ID<Product> = try row.decode("id")
            ids.append(id)
            sortKeys[id.description] = key
        }
        var dependencies: Set<CatalogCache.Dependency> = [.lists]
        if query.categoryID != nil { dependencies.insert(.categories) }
        if query.inStock { dependencies.insert(.anyStock) }
        let summaries = try await summaries(ids, on: database, dependencies: &dependencies)
        let page = Page(summaries, limit: query.limit, cursor: { query.cursor(sortKey: sortKeys[$0.id] ?? "", id: $0.id) })
        return Read(body: page, dependencies: dependencies)
    }

    /// The list entries for `ids`, in that order: three queries for the whole page.
    private func summaries(
        _ ids: [ID<Product>], on database: any Database, dependencies: inout Set<CatalogCache.Dependency>
    ) async throws -> [ProductSummary] {
        guard !ids.isEmpty else { return [] }
        let list = SQL.joined(ids.map { id -> SQL in "\(id)" }, separator: ", ")
        let products = try await database.query("SELECT * FROM products WHERE id IN (\(list))").map(CatalogStore.decodeProduct)
        let byID = Dictionary(uniqueKeysWithValues: products.map { ($0.id, $0) })
        var ranges: [ID<Product>: [PriceRange]] = [:]
        for row in try await database.query("""
            SELECT * FROM product_price_ranges WHERE product_id IN (\(list)) ORDER BY currency
            """) {
            ranges[try row.decode("product_id"), default: []].append(PriceRange(
                currency: try row.decode("currency"), minAmount: try row.decode("min_amount"),
                maxAmount: try row.decode("max_amount")))
        }
        // Every variant of the page's products, stocked or not: a page shows whether each
        // product is in stock, so it depends on all their variants' stock.
        var stocked = Set<ID<Product>>()
        for row in try await database.query("""
            SELECT v.id, v.product_id, CASE WHEN l.on_hand - l.reserved > 0 OR v.backorder = 'allow' THEN 1 ELSE 0 END AS stocked
            FROM variants v LEFT JOIN inventory_levels l ON l.variant_id = v.id
            WHERE v.product_id IN (\(list))
            """) {
            let product: ID<Product> = try row.decode("product_id")
            dependencies.insert(.stock(try row.decode("id")))
            if try row.decode("stocked", as: Int64.self) == 1 { stocked.insert(product) }
        }
        for id in ids { dependencies.insert(.product(id)) }
        return ids.compactMap { id in
            guard let product = byID[id] else { return nil }
            return ProductSummary(
                id: id.description, handle: product.handle, title: product.title,
                categoryID: product.categoryID?.description, tags: product.tags, image: product.images.first,
                prices: ranges[id] ?? [], inStock: stocked.contains(id))
        }
    }
}
