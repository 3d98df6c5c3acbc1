import EmporiumCore
import EmporiumStorage

extension CatalogStore {
    /// Which products the back office's product list shows: any status, newest first.
    struct AdminProductFilter: Sendable {
        /// Search words (`CatalogSearchSchema.words`): title, SKUs and description, as prefixes.
        var words: [String] = []
        var status: Product.Status?
        var category: ID<Category>?
        /// The product id a page continues below.
        var before: String?
        var limit: Int
    }

    /// Up to `limit + 1` products with their variants and prices, as `Page` expects. The
    /// storefront's search shows active products only and ranks them; staff look for drafts
    /// and archived ones too, and read the list newest first.
    func adminProducts(_ filter: AdminProductFilter, on db: any SQLExecutor) async throws -> [Product] {
        var conditions: [SQL] = []
        if let before = filter.before { conditions.append("p.id < \(before)") }
        if let status = filter.status { conditions.append("p.status = \(status.rawValue)") }
        if let category = filter.category { conditions.append("p.category_id = \(category)") }
        if !filter.words.isEmpty {
            let match = CatalogSearchSchema.matchExpression(filter.words, for: db.dialect)
            switch db.dialect {
            case .sqlite:
                conditions.append("p.id IN (SELECT product_id FROM product_search WHERE product_search MATCH \(match))")
            case .postgres:
                conditions.append("p.search_vector @@ to_tsquery('simple', \(match))")
            }
        }
        let clause: SQL = conditions.isEmpty ? "" : "WHERE " + SQL.joined(conditions, separator: " AND ")
        var products = try await db.query("SELECT p.* FROM products p \(clause) ORDER BY p.id DESC LIMIT \(filter.limit + 1)")
            .map(Self.decodeProduct)
        let variants = try await variants(of: products.map(\.id), on: db)
        for index in products.indices { products[index].variants = variants[products[index].id] ?? [] }
        return products
    }
}
