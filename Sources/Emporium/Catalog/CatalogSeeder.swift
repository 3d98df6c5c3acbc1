public import EmporiumCore
public import EmporiumStorage
import Foundation

/// A deterministic demo catalog: the same names, prices and stock for the same count every
/// time (ids differ), so that benchmarks and demos compare like with like. Products are
/// written a batch at a time with multi-row inserts, then their derived rows (price ranges,
/// search entries) in one statement per batch.
public enum CatalogSeeder {
    public struct Summary: Sendable {
        public let categories: Int
        public let products: Int
        public let variants: Int
    }

    static let batchSize = 100

    private static let adjectives = ["Classic", "Sturdy", "Light", "Soft", "Bold", "Quiet", "Bright", "Rugged", "Slim", "Warm"]
    private static let materials = ["Linen", "Wool", "Cotton", "Oak", "Steel", "Leather", "Ceramic", "Bamboo", "Denim", "Glass"]
    private static let departments: [(String, [String])] = [
        ("Clothing", ["Shirts", "Sweaters", "Trousers", "Jackets"]),
        ("Home", ["Mugs", "Lamps", "Chairs", "Tables"]),
        ("Outdoor", ["Tents", "Bottles", "Backpacks", "Boots"]),
        ("Office", ["Notebooks", "Pens", "Desks", "Bags"]),
        ("Kitchen", ["Knives", "Pans", "Bowls", "Boards"]),
    ]
    /// One per leaf category, in the same order: product `i` is a `nouns[i % 20]` in leaf `i % 20`.
    private static let nouns = [
        "Shirt", "Sweater", "Trouser", "Jacket", "Mug", "Lamp", "Chair", "Table", "Tent", "Bottle",
        "Backpack", "Boot", "Notebook", "Pen", "Desk", "Bag", "Knife", "Pan", "Bowl", "Board",
    ]
    private static let sizes = ["S", "M", "L"]

    /// Seeds `count` active products, and the categories and the `main` stock location if
    /// missing, then refreshes the planner's statistics. `progress` is called after each
    /// batch with the products written so far.
    public static func seed(
        products count: Int, database: any Database, clock: any WallClock = SystemClock(),
        progress: @Sendable (Int) -> Void = { _ in }
    ) async throws -> Summary {
        let ids = TimeOrderedIDGenerator(clock: clock)
        let now = clock.now()
        let leaves = try await seedCategories(database: database, ids: ids, now: now)
        let location = try await mainLocation(database: database, ids: ids, now: now)
        var written = 0
        var variants = 0
        while written < count {
            let batch = (written..<min(count, written + batchSize)).map { index in
                makeProduct(index, category: leaves[index % leaves.count], ids: ids, now: now)
            }
            try await database.transaction { db in
                try await insertBatch(batch, location: location, now: now, ids: ids, on: db)
                try await CatalogChanges.bulkChange(on: db)
            }
            written += batch.count
            variants += batch.reduce(0) { $0 + $1.variants.count }
            progress(written)
        }
        try await refreshPlannerStatistics(on: database)
        return Summary(categories: leaves.count + departments.count, products: written, variants: variants)
    }

    private static func seedCategories(database: any Database, ids: some IDGenerator, now: Date) async throws -> [ID<Category>] {
        try await database.transaction { db in
            var leaves: [ID<Category>] = []
            for (position, (name, children)) in departments.enumerated() {
                let parent = try await category(name, parent: nil, position: position, ids: ids, now: now, on: db)
                for (childPosition, child) in children.enumerated() {
                    leaves.append(try await category(child, parent: parent, position: childPosition, ids: ids, now: now, on: db))
                }
            }
            return leaves
        }
    }

    /// The category with this name's slug, created when missing.
    private static func category(
        _ name: String, parent: ID<Category>?, position: Int, ids: some IDGenerator, now: Date, on db: any SQLExecutor
    ) async throws -> ID<Category> {
        let slug = name.lowercased()
        if let existing = try await db.queryFirst("SELECT id FROM categories WHERE slug = \(slug)") {
            return try existing.decode("id")
        }
        let id: ID<Category> = ids.make()
        try await CatalogStore().insert(
            Category(id: id, parentID: parent, slug: slug, name: name, position: Int64(position), version: 1,
                     createdAt: now, updatedAt: now), on: db)
        return id
    }

    private static func mainLocation(database: any Database, ids: some IDGenerator, now: Date) async throws -> ID<StockLocation> {
        if let existing = try await database.queryFirst("SELECT id FROM stock_locations WHERE code = 'main'") {
            return try existing.decode("id")
        }
        let location = StockLocation(id: ids.make(), code: "main", name: "Main warehouse", createdAt: now, updatedAt: now)
        try await InventoryStore(ids: ids).insert(location, on: database)
        return location.id
    }

    /// Product `index`: one to three sizes, EUR and USD prices, stock that varies with the
    /// index (every seventh product is sold out).
    private static func makeProduct(_ index: Int, category: ID<Category>, ids: some IDGenerator, now: Date) -> Product {
        let adjective = adjectives[index % adjectives.count]
        let material = materials[(index / adjectives.count) % materials.count]
        let noun = nouns[index % nouns.count]
        let title = "\(adjective) \(material) \(noun) \(index + 1)"
        let handle = title.lowercased().replacingOccurrences(of: " ", with: "-")
        let id: ID<Product> = ids.make()
        let variantCount = 1 + index % 3
        let base = Int64(500 + (index * 7919) % 20_000)
        let variants = (0..<variantCount).map { position -> Variant in
            let size = sizes[position]
            return Variant(
                id: ids.make(), productID: id, sku: String(format: "SKU-%06d-%@", index + 1, size), title: size,
                optionValues: [size], weightGrams: Int64(100 + index % 900), barcode: nil, position: Int64(position),
                lowStockThreshold: 3, backorder: .deny,
                prices: ["EUR": base + Int64(position) * 200, "USD": (base + Int64(position) * 200) * 108 / 100],
                createdAt: now, updatedAt: now)
        }
        return Product(
            id: id, handle: handle, title: title,
            description: "A \(adjective.lowercased()) \(noun.lowercased()) made of \(material.lowercased()), number \(index + 1) of the demo catalog.",
            status: .active, categoryID: category, tags: [material.lowercased(), adjective.lowercased()],
            images: [.init(url: "https://images.example.com/\(handle).jpg", alt: title)],
            attributes: ["material": material], options: ["Size"], version: 1, createdAt: now, updatedAt: now,
            variants: variants)
    }

    private static func insertBatch(
        _ products: [Product], location: ID<StockLocation>, now: Date, ids: some IDGenerator, on db: any SQLExecutor
    ) async throws {
        let productRows = products.map { product -> SQL in
            """
            (\(product.id), \(product.handle), \(product.title), \(product.description), \(product.status.rawValue),
             \(product.categoryID), \(CatalogStore.json(product.tags)), \(CatalogStore.json(product.images)),
             \(CatalogStore.json(product.attributes)), \(CatalogStore.json(product.options)), 1, \(now), \(now))
            """
        }
        try await db.execute("""
            INSERT INTO products (id, handle, title, description, status, category_id, tags, images, attributes, options,
                                  version, created_at, updated_at)
            VALUES \(SQL.joined(productRows, separator: ", "))
            ON CONFLICT (handle) DO NOTHING
            """)
        let variants = products.flatMap(\.variants)
        try await db.execute("""
            INSERT INTO variants (id, product_id, sku, title, option_values, weight_grams, position, low_stock_threshold,
                                  backorder, created_at, updated_at)
            VALUES \(SQL.joined(variants.map { variant -> SQL in
                """
                (\(variant.id), \(variant.productID), \(variant.sku), \(variant.title), \(CatalogStore.json(variant.optionValues)),
                 \(variant.weightGrams), \(variant.position), \(variant.lowStockThreshold), 'deny', \(now), \(now))
                """
            }, separator: ", "))
            ON CONFLICT (sku) DO NOTHING
            """)
        // VALUES lists name their columns column1, column2… on both engines.
        // Rows of products that existed already (a second seed) are skipped above; their
        // variants' ids are not in the table, so the rest filters on what was written.
        let prices = variants.flatMap { variant in variant.prices.sorted { $0.key < $1.key }.map { (variant.id, $0.key, $0.value) } }
        try await db.execute("""
            INSERT INTO prices (variant_id, currency, amount)
            SELECT v.id, x.column2, x.column3 FROM (VALUES \(SQL.joined(prices.map { id, currency, amount -> SQL in
                "(\(id), \(currency), CAST(\(amount) AS BIGINT))"
            }, separator: ", "))) AS x
            JOIN variants v ON v.id = x.column1
            """)
        let stock = variants.enumerated().map { index, variant in (variant.id, (index % 7 == 0) ? Int64(0) : Int64(5 + (index * 13) % 60)) }
        try await db.execute("""
            INSERT INTO inventory_levels (variant_id, location_id, on_hand, reserved, updated_at)
            SELECT v.id, \(location), x.column2, 0, \(now)
            FROM (VALUES \(SQL.joined(stock.map { id, onHand -> SQL in "(\(id), CAST(\(onHand) AS BIGINT))" }, separator: ", ")))
                AS x
            JOIN variants v ON v.id = x.column1
            ON CONFLICT (variant_id, location_id) DO NOTHING
            """)
        let received = stock.filter { $0.1 > 0 }
        if !received.isEmpty {
            try await db.execute("""
                INSERT INTO inventory_movements (id, variant_id, location_id, on_hand_delta, reserved_delta, reason, reference, created_at)
                SELECT x.column1, v.id, \(location), x.column3, 0, 'received', 'seed', \(now)
                FROM (VALUES \(SQL.joined(received.map { id, onHand -> SQL in
                    "(\(ids.makeUUID().uuidString.lowercased()), \(id), CAST(\(onHand) AS BIGINT))"
                }, separator: ", "))) AS x
                JOIN variants v ON v.id = x.column2
                """)
        }
        let written = SQL.joined(products.map { product -> SQL in "\(product.id)" }, separator: ", ")
        try await db.execute("""
            INSERT INTO product_price_ranges (product_id, currency, min_amount, max_amount)
            SELECT v.product_id, pr.currency, min(pr.amount), max(pr.amount)
            FROM prices pr JOIN variants v ON v.id = pr.variant_id
            WHERE v.product_id IN (\(written)) GROUP BY v.product_id, pr.currency
            ON CONFLICT (product_id, currency) DO NOTHING
            """)
        try await CatalogSearchSchema.refresh(products.map(\.id), on: db)
    }
}
