import EmporiumCore
import EmporiumStorage

extension CatalogStore {
    /// What a product page shows: the product, its variants with their prices, and how many
    /// units of each variant can be sold now.
    struct ProductPage: Sendable {
        var product: Product
        var available: [ID<Variant>: Int64]
    }

    /// The product named by id or handle with everything its page shows, in one statement: a
    /// row per variant and price, the product's columns first and the variant's after the
    /// `variant_columns` marker. A page read from the cache costs nothing; this is the cost of
    /// every other one, and on PostgreSQL three statements were three round trips.
    func productPage(idOrHandle key: String, on db: any SQLExecutor) async throws -> ProductPage? {
        let match: SQL = if let id = ID<Product>(key) { "p.id = \(id)" } else { "p.handle = \(key)" }
        let rows = try await db.query("""
            SELECT p.*, NULL AS variant_columns, v.*, pr.currency AS price_currency, pr.amount AS price_amount,
                \(InventoryStore.available(ofVariantColumn: "v.id")) AS available
            FROM products p
            LEFT JOIN variants v ON v.product_id = p.id
            LEFT JOIN prices pr ON pr.variant_id = v.id
            WHERE \(match)
            ORDER BY v.position, v.id, pr.currency
            """)
        guard let first = rows.first else { return nil }
        var page = ProductPage(product: try Self.decodeProduct(first), available: [:])
        var current: Variant?
        func finish() {
            if let variant = current { page.product.variants.append(variant) }
        }
        for row in rows {
            let columns = try row.columns(from: "variant_columns")
            guard let id: ID<Variant> = try columns.decode("id") else { continue }
            if current?.id != id {
                finish()
                current = try Self.decodeVariant(columns)
                page.available[id] = try columns.decode("available")
            }
            if let currency: String = try columns.decode("price_currency") {
                current?.prices[currency] = try columns.decode("price_amount")
            }
        }
        finish()
        return page
    }
}
