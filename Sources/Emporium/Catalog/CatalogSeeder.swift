public import EmporiumCore
public import EmporiumStorage
import Foundation

/// A deterministic demo shop: the same names, prices and stock for the same count every time
/// (ids differ), so that benchmarks and demos compare like with like, and what checkout needs
/// besides a catalog: the `main` stock location, a shipping method in every currency the
/// products are priced in, and German VAT. Products are written a batch at a time with
/// multi-row inserts, then their derived rows (price ranges, search entries) in one statement
/// per batch.
///
/// Seeding is idempotent: what exists already (a product by its handle, a category by its
/// slug, the location by its code, a tax rate by its country) is left as it is, and the
/// summary says what was created, updated and left unchanged.
public enum CatalogSeeder {
    /// What one kind of record went through.
    public struct Counts: Sendable, Equatable, CustomStringConvertible {
        public var created = 0
        public var updated = 0
        public var unchanged = 0

        public init(created: Int = 0, updated: Int = 0, unchanged: Int = 0) {
            self.created = created
            self.updated = updated
            self.unchanged = unchanged
        }

        /// Whether this seed wrote anything of this kind.
        public var changed: Bool { created + updated > 0 }

        public var description: String { "\(created) created, \(updated) updated, \(unchanged) unchanged" }
    }

    public struct Summary: Sendable {
        /// Products by handle: existing handles are never rewritten.
        public var products = Counts()
        /// The variants of the products created.
        public var variants = 0
        public var categories = Counts()
        public var stockLocations = Counts()
        /// One per seeded currency: unchanged when the currency has an active method already;
        /// updated when the seed's own method was deactivated and nothing else ships in it.
        public var shippingMethods = Counts()
        public var taxRates = Counts()

        /// Whether this seed wrote anything at all.
        public var changed: Bool {
            [products, categories, stockLocations, shippingMethods, taxRates].contains(where: \.changed)
        }
    }

    /// The currencies every seeded variant is priced in (`makeProduct` sets both prices).
    public static let currencies = ["EUR", "USD"]
    /// The demo shipping method's name and flat charge (minor units) in every seeded currency.
    public static let shippingMethodName = "Standard shipping"
    public static let shippingAmount: Int64 = 490
    /// The demo tax rate: German VAT, for the country the README's tour ships to.
    public static let taxCountry = "DE"
    public static let taxName = "VAT"
    public static let taxRatePPM: Int64 = 190_000
    public static let locationCode = "main"

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

    /// Seeds `count` active products, and the categories, the `main` stock location, the
    /// shipping methods and the tax rate if missing, then refreshes the planner's statistics
    /// when products were added. `progress` is called after each batch with the products
    /// handled so far.
    public static func seed(
        products count: Int, database: any Database, clock: any WallClock = SystemClock(),
        progress: @Sendable (Int) -> Void = { _ in }
    ) async throws -> Summary {
        let ids = TimeOrderedIDGenerator(clock: clock)
        let now = clock.now()
        var summary = Summary()
        let leaves = try await seedCategories(database: database, ids: ids, now: now, counts: &summary.categories)
        let location = try await mainLocation(database: database, ids: ids, now: now, counts: &summary.stockLocations)
        summary.shippingMethods = try await seedShippingMethods(database: database, ids: ids, now: now)
        summary.taxRates = try await seedTaxRate(database: database, ids: ids, now: now)
        var handled = 0
        while handled < count {
            let batch = (handled..<min(count, handled + batchSize)).map { index in
                makeProduct(index, category: leaves[index % leaves.count], ids: ids, now: now)
            }
            let (created, variants) = try await database.transaction { db in
                let written = try await insertBatch(batch, location: location, now: now, ids: ids, on: db)
                if written.products > 0 { try await CatalogChanges.bulkChange(on: db) }
                return written
            }
            summary.products.created += created
            summary.products.unchanged += batch.count - created
            summary.variants += variants
            handled += batch.count
            progress(handled)
        }
        if summary.products.created > 0 { try await refreshPlannerStatistics(on: database) }
        return summary
    }

    private static func seedCategories(
        database: any Database, ids: some IDGenerator, now: Date, counts: inout Counts
    ) async throws -> [ID<Category>] {
        let (leaves, created) = try await database.transaction { db in
            var leaves: [ID<Category>] = []
            var created = 0
            for (position, (name, children)) in departments.enumerated() {
                let parent = try await category(name, parent: nil, position: position, ids: ids, now: now, created: &created, on: db)
                for (childPosition, child) in children.enumerated() {
                    leaves.append(try await category(
                        child, parent: parent, position: childPosition, ids: ids, now: now, created: &created, on: db))
                }
            }
            return (leaves, created)
        }
        counts.created += created
        counts.unchanged += leaves.count + departments.count - created
        return leaves
    }

    /// The category with this name's slug, created when missing.
    private static func category(
        _ name: String, parent: ID<Category>?, position: Int, ids: some IDGenerator, now: Date, created: inout Int,
        on db: any SQLExecutor
    ) async throws -> ID<Category> {
        let slug = name.lowercased()
        if let existing = try await db.queryFirst("SELECT id FROM categories WHERE slug = \(slug)") {
            return try existing.decode("id")
        }
        let id: ID<Category> = ids.make()
        try await CatalogStore().insert(
            Category(id: id, parentID: parent, slug: slug, name: name, position: Int64(position), version: 1,
                     createdAt: now, updatedAt: now), on: db)
        created += 1
        return id
    }

    private static func mainLocation(
        database: any Database, ids: some IDGenerator, now: Date, counts: inout Counts
    ) async throws -> ID<StockLocation> {
        if let existing = try await database.queryFirst("SELECT id FROM stock_locations WHERE code = \(locationCode)") {
            counts.unchanged += 1
            return try existing.decode("id")
        }
        let location = StockLocation(id: ids.make(), code: locationCode, name: "Main warehouse", createdAt: now, updatedAt: now)
        try await InventoryStore(ids: ids).insert(location, on: database)
        counts.created += 1
        return location.id
    }

    /// An active shipping method, shipping everywhere, in every seeded currency. A currency
    /// that has an active method already (the seed's or an admin's) is left alone; one whose
    /// only demo method was deactivated gets it back.
    private static func seedShippingMethods(database: any Database, ids: some IDGenerator, now: Date) async throws -> Counts {
        let store = ShippingMethodStore()
        return try await database.transaction { db in
            var counts = Counts()
            let existing = try await store.all(on: db)
            for code in currencies {
                guard let currency = Currency(code: code) else { throw DatabaseError.decoding(column: "currency", expected: "ISO 4217 code", found: code) }
                let methods = existing.filter { $0.currency == currency }
                if methods.contains(where: \.active) {
                    counts.unchanged += 1
                } else if var own = methods.first(where: { $0.name == shippingMethodName }) {
                    own.active = true
                    own.updatedAt = now
                    try await store.update(own, on: db)
                    counts.updated += 1
                } else {
                    try await store.insert(
                        ShippingMethod(
                            id: ids.make(), name: shippingMethodName, currency: currency,
                            rule: ShippingRule(flatAmount: shippingAmount, tiers: [], freeOver: nil), countries: [],
                            active: true, createdAt: now, updatedAt: now),
                        on: db)
                    counts.created += 1
                }
            }
            return counts
        }
    }

    /// The country-wide rate for `taxCountry`, unless the country has one (whatever its rate).
    private static func seedTaxRate(database: any Database, ids: some IDGenerator, now: Date) async throws -> Counts {
        let store = TaxRateStore()
        guard let rate = TaxRate(partsPerMillion: taxRatePPM) else {
            throw DatabaseError.decoding(column: "rate_ppm", expected: "0 to 1000000", found: String(taxRatePPM))
        }
        return try await database.transaction { db in
            if try await store.rate(country: taxCountry, region: nil, on: db) != nil { return Counts(unchanged: 1) }
            try await store.save(
                TaxRateEntry(id: ids.make(), country: taxCountry, region: "", name: taxName, rate: rate, createdAt: now, updatedAt: now),
                on: db)
            return Counts(created: 1)
        }
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

    /// Writes the products of `candidates` whose handle is new, with their variants, prices,
    /// stock and derived rows; answers how many products and variants were written.
    private static func insertBatch(
        _ candidates: [Product], location: ID<StockLocation>, now: Date, ids: some IDGenerator, on db: any SQLExecutor
    ) async throws -> (products: Int, variants: Int) {
        let productRows = candidates.map { product -> SQL in
            """
            (\(product.id), \(product.handle), \(product.title), \(product.description), \(product.status.rawValue),
             \(product.categoryID), \(CatalogStore.json(product.tags)), \(CatalogStore.json(product.images)),
             \(CatalogStore.json(product.attributes)), \(CatalogStore.json(product.options)), 1, \(now), \(now))
            """
        }
        let inserted = try await db.query("""
            INSERT INTO products (id, handle, title, description, status, category_id, tags, images, attributes, options,
                                  version, created_at, updated_at)
            VALUES \(SQL.joined(productRows, separator: ", "))
            ON CONFLICT (handle) DO NOTHING
            RETURNING id
            """)
        let insertedIDs = Set(try inserted.map { row -> ID<Product> in try row.decode("id") })
        // Products whose handle existed (a second seed) are left as they are, with everything of theirs.
        let products = candidates.filter { insertedIDs.contains($0.id) }
        guard !products.isEmpty else { return (0, 0) }
        let variants = products.flatMap(\.variants)
        let insertedVariants = try await db.query("""
            INSERT INTO variants (id, product_id, sku, title, option_values, weight_grams, position, low_stock_threshold,
                                  backorder, created_at, updated_at)
            VALUES \(SQL.joined(variants.map { variant -> SQL in
                """
                (\(variant.id), \(variant.productID), \(variant.sku), \(variant.title), \(CatalogStore.json(variant.optionValues)),
                 \(variant.weightGrams), \(variant.position), \(variant.lowStockThreshold), 'deny', \(now), \(now))
                """
            }, separator: ", "))
            ON CONFLICT (sku) DO NOTHING
            RETURNING id
            """)
        // VALUES lists name their columns column1, column2… on both engines.
        // A variant whose SKU another product holds is skipped above; its id is not in the
        // table, so the rest filters on what was written.
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
                    "(\(ids.makeUUID().lowercasedString), \(id), CAST(\(onHand) AS BIGINT))"
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
        return (products.count, insertedVariants.count)
    }
}
