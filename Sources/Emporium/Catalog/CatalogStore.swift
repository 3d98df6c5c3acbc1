import EmporiumCore
import EmporiumStorage
import Foundation

/// The catalog tables: categories, products, variants, prices, and what is derived from them
/// (price ranges, the search index), always rewritten in the transaction that changes them.
struct CatalogStore: Sendable {
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
    /// One for every read of a shape `JSONColumn` does not read.
    private static let decoder = JSONDecoder()

    static func json(_ value: some Encodable) -> String {
        String(decoding: (try? encoder.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }

    static func fromJSON<T: Decodable>(_ text: String, as type: T.Type) throws -> T {
        do {
            return try decoder.decode(T.self, from: Data(text.utf8))
        } catch {
            throw notJSON(text, as: T.self)
        }
    }

    // The shapes a product page reads, without the decoder (`JSONColumn`).

    static func fromJSON(_ text: String, as type: [String].Type) throws -> [String] {
        guard let strings = JSONColumn.strings(text) else { throw notJSON(text, as: type) }
        return strings
    }

    static func fromJSON(_ text: String, as type: [String: String].Type) throws -> [String: String] {
        guard let map = JSONColumn.stringMap(text) else { throw notJSON(text, as: type) }
        return map
    }

    static func fromJSON(_ text: String, as type: [Product.Image].Type) throws -> [Product.Image] {
        guard let objects = JSONColumn.stringObjects(text) else { throw notJSON(text, as: type) }
        return try objects.map { object in
            guard let url = object["url"], let alt = object["alt"] else { throw notJSON(text, as: type) }
            return Product.Image(url: url, alt: alt)
        }
    }

    private static func notJSON<T>(_ text: String, as type: T.Type) -> DatabaseError {
        .decoding(column: "json", expected: "\(T.self)", found: String(text.prefix(40)))
    }

    // MARK: Products

    func insert(_ product: Product, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO products (id, handle, title, description, status, category_id, tags, images, attributes,
                                  options, version, created_at, updated_at)
            VALUES (\(product.id), \(product.handle), \(product.title), \(product.description),
                    \(product.status.rawValue), \(product.categoryID), \(Self.json(product.tags)),
                    \(Self.json(product.images)), \(Self.json(product.attributes)), \(Self.json(product.options)),
                    \(product.version), \(product.createdAt), \(product.updatedAt))
            """)
    }

    /// Writes the product's own fields and moves its version on, if the stored version is
    /// still `expectedVersion`. Returns the new version, or nil when someone else changed it.
    func update(_ product: Product, expectedVersion: Int64, on db: any SQLExecutor) async throws -> Int64? {
        try await db.queryFirst("""
            UPDATE products SET handle = \(product.handle), title = \(product.title),
                description = \(product.description), status = \(product.status.rawValue),
                category_id = \(product.categoryID), tags = \(Self.json(product.tags)),
                images = \(Self.json(product.images)), attributes = \(Self.json(product.attributes)),
                options = \(Self.json(product.options)), version = version + 1, updated_at = \(product.updatedAt)
            WHERE id = \(product.id) AND version = \(expectedVersion)
            RETURNING version
            """)?.decode("version")
    }

    /// Moves the version on after a change to variants or prices, if it is still `expected`.
    func touch(_ id: ID<Product>, expectedVersion: Int64, at now: Date, on db: any SQLExecutor) async throws -> Bool {
        try await db.queryFirst("""
            UPDATE products SET version = version + 1, updated_at = \(now)
            WHERE id = \(id) AND version = \(expectedVersion) RETURNING id
            """) != nil
    }

    func delete(_ id: ID<Product>, on db: any SQLExecutor) async throws {
        try await CatalogSearchSchema.remove(id, on: db)
        try await db.execute("DELETE FROM products WHERE id = \(id)")
    }

    /// Products in id order with their variants and prices, in one status or all, after the
    /// id `after`: the admin list.
    func products(status: Product.Status?, after: String?, limit: Int, on db: any SQLExecutor) async throws -> [Product] {
        var conditions: [SQL] = []
        if let after { conditions.append("id > \(after)") }
        if let status { conditions.append("status = \(status.rawValue)") }
        let filter: SQL = conditions.isEmpty ? "" : "WHERE " + SQL.joined(conditions, separator: " AND ")
        var products = try await db.query("SELECT * FROM products \(filter) ORDER BY id LIMIT \(limit)").map(Self.decodeProduct)
        let variants = try await variants(of: products.map(\.id), on: db)
        for index in products.indices { products[index].variants = variants[products[index].id] ?? [] }
        return products
    }

    /// Ids of the products in a category (not its subcategories).
    func productIDs(inCategory category: ID<Category>, on db: any SQLExecutor) async throws -> [ID<Product>] {
        try await db.query("SELECT id FROM products WHERE category_id = \(category)").map { try $0.decode("id") }
    }

    /// Whether any order line names the product (`variant` nil) or the variant.
    func hasBeenSold(product: ID<Product>, variant: ID<Variant>? = nil, on db: any SQLExecutor) async throws -> Bool {
        if let variant {
            return try await db.queryFirst("SELECT 1 AS sold FROM order_lines WHERE variant_id = \(variant) LIMIT 1") != nil
        }
        return try await db.queryFirst("SELECT 1 AS sold FROM order_lines WHERE product_id = \(product) LIMIT 1") != nil
    }

    func categoryExists(_ id: ID<Category>, on db: any SQLExecutor) async throws -> Bool {
        try await db.queryFirst("SELECT id FROM categories WHERE id = \(id)") != nil
    }

    /// A product with its variants and prices, by id or handle.
    func product(idOrHandle key: String, on db: any SQLExecutor) async throws -> Product? {
        guard var product = try await productRow(idOrHandle: key, on: db) else { return nil }
        product.variants = try await variants(of: [product.id], on: db)[product.id] ?? []
        return product
    }

    /// The product's own row, without variants.
    func productRow(idOrHandle key: String, on db: any SQLExecutor) async throws -> Product? {
        if let id = ID<Product>(key) {
            return try await db.queryFirst("SELECT * FROM products WHERE id = \(id)").map(Self.decodeProduct)
        }
        return try await db.queryFirst("SELECT * FROM products WHERE handle = \(key)").map(Self.decodeProduct)
    }

    /// The variants of several products with their prices, by product, in position order:
    /// one query, a row per variant and price.
    func variants(of productIDs: [ID<Product>], on db: any SQLExecutor) async throws -> [ID<Product>: [Variant]] {
        guard !productIDs.isEmpty else { return [:] }
        let list = SQL.joined(productIDs.map { id -> SQL in "\(id)" }, separator: ", ")
        let rows = try await db.query("""
            SELECT v.*, pr.currency AS price_currency, pr.amount AS price_amount
            FROM variants v LEFT JOIN prices pr ON pr.variant_id = v.id
            WHERE v.product_id IN (\(list)) ORDER BY v.product_id, v.position, v.id
            """)
        var result: [ID<Product>: [Variant]] = [:]
        var current: Variant?
        func finish() {
            if let variant = current { result[variant.productID, default: []].append(variant) }
        }
        for row in rows {
            let id: ID<Variant> = try row.decode("id")
            if current?.id != id {
                finish()
                current = try Self.decodeVariant(row)
            }
            if let currency: String = try row.decode("price_currency") {
                current?.prices[currency] = try row.decode("price_amount")
            }
        }
        finish()
        return result
    }

    func productID(ofSKU sku: String, on db: any SQLExecutor) async throws -> ID<Product>? {
        try await db.queryFirst("SELECT product_id FROM variants WHERE sku = \(sku)")?.decode("product_id")
    }

    // MARK: Variants and prices

    func insert(_ variant: Variant, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO variants (id, product_id, sku, title, option_values, weight_grams, barcode, position,
                                  low_stock_threshold, backorder, created_at, updated_at, length_mm, width_mm, height_mm)
            VALUES (\(variant.id), \(variant.productID), \(variant.sku), \(variant.title),
                    \(Self.json(variant.optionValues)), \(variant.weightGrams), \(variant.barcode), \(variant.position),
                    \(variant.lowStockThreshold), \(variant.backorder.rawValue), \(variant.createdAt), \(variant.updatedAt),
                    \(variant.dimensions?.length), \(variant.dimensions?.width), \(variant.dimensions?.height))
            """)
        try await replacePrices(of: variant.id, with: variant.prices, on: db)
    }

    func update(_ variant: Variant, on db: any SQLExecutor) async throws {
        try await db.execute("""
            UPDATE variants SET sku = \(variant.sku), title = \(variant.title),
                option_values = \(Self.json(variant.optionValues)), weight_grams = \(variant.weightGrams),
                barcode = \(variant.barcode), position = \(variant.position),
                low_stock_threshold = \(variant.lowStockThreshold), backorder = \(variant.backorder.rawValue),
                length_mm = \(variant.dimensions?.length), width_mm = \(variant.dimensions?.width),
                height_mm = \(variant.dimensions?.height), updated_at = \(variant.updatedAt)
            WHERE id = \(variant.id)
            """)
        try await replacePrices(of: variant.id, with: variant.prices, on: db)
    }

    func delete(_ variant: ID<Variant>, on db: any SQLExecutor) async throws {
        try await db.execute("DELETE FROM variants WHERE id = \(variant)")
    }

    private func replacePrices(of variant: ID<Variant>, with prices: [String: Int64], on db: any SQLExecutor) async throws {
        try await db.execute("DELETE FROM prices WHERE variant_id = \(variant)")
        for (currency, amount) in prices.sorted(by: { $0.key < $1.key }) {
            try await db.execute("INSERT INTO prices (variant_id, currency, amount) VALUES (\(variant), \(currency), \(amount))")
        }
    }

    /// Rewrites what is derived from a product's rows: its price ranges and search entry.
    func refreshDerived(_ id: ID<Product>, on db: any SQLExecutor) async throws {
        try await db.execute("DELETE FROM product_price_ranges WHERE product_id = \(id)")
        try await db.execute("""
            INSERT INTO product_price_ranges (product_id, currency, min_amount, max_amount)
            SELECT v.product_id, pr.currency, min(pr.amount), max(pr.amount)
            FROM prices pr JOIN variants v ON v.id = pr.variant_id
            WHERE v.product_id = \(id) GROUP BY v.product_id, pr.currency
            """)
        try await CatalogSearchSchema.refresh([id], on: db)
    }

    // MARK: Categories

    func categories(on db: any SQLExecutor) async throws -> [Category] {
        try await db.query("SELECT * FROM categories ORDER BY position, name, id").map(Self.decodeCategory)
    }

    func insert(_ category: Category, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO categories (id, parent_id, slug, name, position, version, created_at, updated_at)
            VALUES (\(category.id), \(category.parentID), \(category.slug), \(category.name), \(category.position),
                    \(category.version), \(category.createdAt), \(category.updatedAt))
            """)
    }

    func update(_ category: Category, expectedVersion: Int64, on db: any SQLExecutor) async throws -> Int64? {
        try await db.queryFirst("""
            UPDATE categories SET parent_id = \(category.parentID), slug = \(category.slug), name = \(category.name),
                position = \(category.position), version = version + 1, updated_at = \(category.updatedAt)
            WHERE id = \(category.id) AND version = \(expectedVersion)
            RETURNING version
            """)?.decode("version")
    }

    func delete(_ category: ID<Category>, on db: any SQLExecutor) async throws {
        try await db.execute("DELETE FROM categories WHERE id = \(category)")
    }

    // MARK: Rows

    static func decodeProduct(_ row: SQLRow) throws -> Product {
        guard let status = Product.Status(rawValue: try row.decode("status")) else {
            throw DatabaseError.decoding(column: "status", expected: "a product status", found: "another value")
        }
        return Product(
            id: try row.decode("id"), handle: try row.decode("handle"), title: try row.decode("title"),
            description: try row.decode("description"), status: status, categoryID: try row.decode("category_id"),
            tags: try fromJSON(try row.decode("tags"), as: [String].self),
            images: try fromJSON(try row.decode("images"), as: [Product.Image].self),
            attributes: try fromJSON(try row.decode("attributes"), as: [String: String].self),
            options: try fromJSON(try row.decode("options"), as: [String].self),
            version: try row.decode("version"), createdAt: try row.decode("created_at"),
            updatedAt: try row.decode("updated_at"), variants: [])
    }

    static func decodeVariant(_ row: SQLRow) throws -> Variant {
        Variant(
            id: try row.decode("id"), productID: try row.decode("product_id"), sku: try row.decode("sku"),
            title: try row.decode("title"), optionValues: try fromJSON(try row.decode("option_values"), as: [String].self),
            weightGrams: try row.decode("weight_grams"), barcode: try row.decode("barcode"),
            position: try row.decode("position"), lowStockThreshold: try row.decode("low_stock_threshold"),
            backorder: Variant.Backorder(rawValue: try row.decode("backorder")) ?? .deny, prices: [:],
            createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"),
            dimensions: try decodeDimensions(row))
    }

    /// All three dimensions, or none.
    private static func decodeDimensions(_ row: SQLRow) throws -> DimensionsMM? {
        let length: Int64? = try row.decode("length_mm"), width: Int64? = try row.decode("width_mm")
        let height: Int64? = try row.decode("height_mm")
        guard let length, let width, let height else { return nil }
        return DimensionsMM(length: length, width: width, height: height)
    }

    static func decodeCategory(_ row: SQLRow) throws -> Category {
        Category(
            id: try row.decode("id"), parentID: try row.decode("parent_id"), slug: try row.decode("slug"),
            name: try row.decode("name"), position: try row.decode("position"), version: try row.decode("version"),
            createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
    }
}
