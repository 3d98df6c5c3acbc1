import EmporiumCore
import EmporiumStorage
import Foundation

/// The `carts` and `cart_items` tables: the only code that writes them. Shipping addresses are
/// sealed with the field cipher, bound to the cart; country and region stay readable for
/// shipping and tax.
///
/// Every change to a cart or its lines moves the cart's version on, so a version read with
/// the cart names its lines too: a write made conditional on it (`save(_:ifAt:)`,
/// `bump(_:ifAt:)`) lands only on the cart as it was read.
struct CartStore: Sendable {
    let cipher: FieldCipher

    static let maximumQuantity: Int64 = 10_000
    static let maximumLines = 100

    func insert(_ cart: Cart, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO carts (id, secret_hash, user_id, currency, email, status, version, created_at, updated_at)
            VALUES (\(cart.id), \(cart.secretHash), \(cart.userID), \(cart.currency.code), \(cart.email), \(cart.status.rawValue), 1,
                    \(cart.createdAt), \(cart.updatedAt))
            """)
    }

    /// Writes the cart's own fields and moves its version on.
    func save(_ cart: Cart, on db: any SQLExecutor) async throws {
        try await db.execute("""
            UPDATE carts SET secret_hash = \(cart.secretHash), user_id = \(cart.userID), currency = \(cart.currency.code),
                email = \(cart.email), shipping_address = \(try sealedAddress(of: cart)),
                shipping_country = \(cart.shippingAddress?.country), shipping_region = \(cart.shippingAddress?.region),
                shipping_method_id = \(cart.shippingMethodID), shipping_rate_id = \(cart.shippingRateID),
                discount_code = \(cart.discountCode),
                status = \(cart.status.rawValue), version = version + 1, updated_at = \(cart.updatedAt)
            WHERE id = \(cart.id)
            """)
    }

    /// Writes the cart's own fields if it is still open (and at `version`, when given), moving
    /// the version on; the new version, or nil when the cart moved on or is not open.
    func save(_ cart: Cart, ifAt version: Int64?, on db: any SQLExecutor) async throws -> Int64? {
        let versionCheck: SQL = version.map { " AND version = \($0)" } ?? ""
        return try await db.queryFirst("""
            UPDATE carts SET email = \(cart.email), shipping_address = \(try sealedAddress(of: cart)),
                shipping_country = \(cart.shippingAddress?.country), shipping_region = \(cart.shippingAddress?.region),
                shipping_method_id = \(cart.shippingMethodID), shipping_rate_id = \(cart.shippingRateID),
                discount_code = \(cart.discountCode),
                version = version + 1, updated_at = \(cart.updatedAt)
            WHERE id = \(cart.id) AND status = 'open'\(versionCheck) RETURNING version
            """)?.decode("version")
    }

    /// Moves an open cart's version on for a change to its lines, if it is still at `version`
    /// (any version when nil); the new version, or nil.
    func bump(_ id: ID<Cart>, ifAt version: Int64?, at now: Date, on db: any SQLExecutor) async throws -> Int64? {
        let versionCheck: SQL = version.map { " AND version = \($0)" } ?? ""
        return try await db.queryFirst("""
            UPDATE carts SET version = version + 1, updated_at = \(now)
            WHERE id = \(id) AND status = 'open'\(versionCheck) RETURNING version
            """)?.decode("version")
    }

    /// The cart, its row locked until the transaction ends (PostgreSQL; SQLite's single
    /// writer already excludes every other change).
    func findLocked(_ id: ID<Cart>, on db: any SQLExecutor) async throws -> Cart? {
        let lock: SQL = db.dialect == .postgres ? " FOR UPDATE" : ""
        return try await db.queryFirst("SELECT * FROM carts WHERE id = \(id)\(lock)").map(decode)
    }

    /// Opens a checked-out cart again after its order was cancelled unpaid, so the shopper
    /// may try again, unless they have started another cart meanwhile.
    func reopen(_ id: ID<Cart>, at now: Date, on db: any SQLExecutor) async throws {
        try await db.execute("""
            UPDATE carts SET status = 'open', version = version + 1, updated_at = \(now)
            WHERE id = \(id) AND status = 'converted'
              AND (user_id IS NULL OR NOT EXISTS (SELECT 1 FROM carts other WHERE other.user_id = carts.user_id AND other.status = 'open'))
            """)
    }

    /// Takes an open cart for a change: moves its version on (or converts it, for checkout) in
    /// one conditional UPDATE that also locks the row until commit, and answers the cart as it
    /// is now. Nil when the cart is not open or not at `expectedVersion`.
    func claim(
        _ id: ID<Cart>, expectedVersion: Int64?, converting: Bool = false, at now: Date, on db: any SQLExecutor
    ) async throws -> Cart? {
        let versionCheck: SQL = expectedVersion.map { " AND version = \($0)" } ?? ""
        let status = converting ? Cart.Status.converted : .open
        return try await db.queryFirst("""
            UPDATE carts SET status = \(status.rawValue), version = version + 1, updated_at = \(now)
            WHERE id = \(id) AND status = 'open'\(versionCheck) RETURNING *
            """).map(decode)
    }

    /// Marks an open cart checked out if it is still at `version`; false when it moved on or
    /// is not open. The row stays locked until the checkout commits.
    func convert(_ id: ID<Cart>, ifAt version: Int64, at now: Date, on db: any SQLExecutor) async throws -> Bool {
        try await db.queryFirst("""
            UPDATE carts SET status = 'converted', version = version + 1, updated_at = \(now)
            WHERE id = \(id) AND status = 'open' AND version = \(version) RETURNING id
            """) != nil
    }

    /// Moves the version on after a change to the cart's lines.
    func touch(_ id: ID<Cart>, at now: Date, on db: any SQLExecutor) async throws {
        try await db.execute("UPDATE carts SET version = version + 1, updated_at = \(now) WHERE id = \(id)")
    }

    /// The cart with its lines (`itemsAsRead`) and, when `adding` names one, the variant an
    /// added line would copy (`variantAsRead`).
    func find(_ id: ID<Cart>, adding key: VariantKey? = nil, on db: any SQLExecutor) async throws -> Cart? {
        try await findWithItems("c.id = \(id)", adding: key, on: db)
    }

    /// The customer's open cart with its lines (`itemsAsRead`).
    func openCart(of user: ID<User>, on db: any SQLExecutor) async throws -> Cart? {
        try await findWithItems("c.user_id = \(user) AND c.status = 'open'", on: db)
    }

    /// A cart and its lines in one statement: a row per line, the cart's columns first and the
    /// line's after the `item_columns` marker. Nearly every cart request reads both, and on
    /// PostgreSQL two statements were two round trips. Adding a line needs the variant too
    /// (its price in the cart's currency and its stock): its columns, after the
    /// `variant_columns` marker, repeat on every row, all NULL when the key matches nothing.
    private func findWithItems(_ match: SQL, adding key: VariantKey? = nil, on db: any SQLExecutor) async throws -> Cart? {
        let (variantColumns, variantJoin): (SQL, SQL) = if let key {
            ("NULL AS variant_columns, sv.*, svp.amount,", """
                LEFT JOIN (\(Self.saleVariants(key))) sv ON TRUE
                LEFT JOIN prices svp ON svp.variant_id = sv.id AND svp.currency = c.currency
                """)
        } else { ("", "") }
        let rows = try await db.query("""
            SELECT c.*, (SELECT generation FROM settings_generation WHERE id = 1) AS settings_generation,
                   \(variantColumns) NULL AS item_columns, \(Self.itemColumns)
            FROM carts c
            \(variantJoin)
            LEFT JOIN cart_items i ON i.cart_id = c.id
            LEFT JOIN variants v ON v.id = i.variant_id
            LEFT JOIN products p ON p.id = v.product_id
            LEFT JOIN prices pr ON pr.variant_id = i.variant_id AND pr.currency = c.currency
            WHERE \(match) ORDER BY i.id
            """)
        guard let first = rows.first else { return nil }
        var cart = try decode(first)
        cart.settingsGeneration = try first.decode("settings_generation", as: Int64?.self)
        if let key {
            cart.variantAsRead = VariantAsRead(key: key, variant: try first.joined(from: "variant_columns").map(Self.decodeSaleVariant))
        }
        cart.itemsAsRead = try rows.compactMap { row in try row.joined(from: "item_columns").map(Self.decodeItem) }
        return cart
    }

    /// The cart's lines as they are now.
    func items(of cart: Cart, on db: any SQLExecutor) async throws -> [CartItem] {
        try await db.query("""
            SELECT \(Self.itemColumns)
            FROM cart_items i JOIN variants v ON v.id = i.variant_id JOIN products p ON p.id = v.product_id
            LEFT JOIN prices pr ON pr.variant_id = i.variant_id AND pr.currency = \(cart.currency.code)
            WHERE i.cart_id = \(cart.id) ORDER BY i.id
            """).map(Self.decodeItem)
    }

    /// The lines read with the cart (`itemsAsRead`), else as they are now. For a change made
    /// conditional on the cart's version, which the lines read with it belong to.
    func items(asReadWith cart: Cart, on db: any SQLExecutor) async throws -> [CartItem] {
        if let items = cart.itemsAsRead { return items }
        return try await items(of: cart, on: db)
    }

    private static let itemColumns: SQL =
        "i.*, v.product_id, v.weight_grams, v.backorder, p.status AS product_status, pr.amount AS current_price"

    private static func decodeItem(_ row: SQLRow) throws -> CartItem {
        let status: String = try row.decode("product_status")
        return CartItem(
            id: try row.decode("id"), variantID: try row.decode("variant_id"), quantity: try row.decode("quantity"),
            sku: try row.decode("sku"), title: try row.decode("title"), unitPrice: try row.decode("unit_price"),
            productID: try row.decode("product_id"), weightGrams: try row.decode("weight_grams"),
            backorder: try row.decode("backorder", as: String.self) == "allow",
            currentPrice: status == "active" ? try row.decode("current_price") : nil)
    }

    /// A variant as a cart line needs it: nil when no variant matches, `price` nil when it has
    /// no price in `currency`, `forSale` false when its product is not active.
    struct SaleVariant: Sendable, Equatable {
        let id: ID<Variant>
        let sku: String
        let title: String
        let productID: ID<Product>
        let weightGrams: Int64
        let backorder: Bool
        let forSale: Bool
        let price: Int64?
        /// Units that can be sold now, over all locations (read in the same statement).
        let available: Int64
    }

    enum VariantKey: Sendable, Equatable {
        case id(String)
        case sku(String)
    }

    /// The variant `key` names, read with a cart: `variant` nil when none matches.
    struct VariantAsRead: Sendable, Equatable {
        let key: VariantKey
        let variant: SaleVariant?
    }

    /// The variant on its own, for a change planned again from a cart read without it. Its
    /// price is joined as in `findWithItems`, where the currency is the cart's own column.
    func variant(_ key: VariantKey, currency: Currency, on db: any SQLExecutor) async throws -> SaleVariant? {
        try await db.queryFirst("""
            SELECT sv.*, pr.amount FROM (\(Self.saleVariants(key))) sv
            LEFT JOIN prices pr ON pr.variant_id = sv.id AND pr.currency = \(currency.code)
            """).map(Self.decodeSaleVariant)
    }

    /// The variant `key` names with its product's title and status and its stock, without its
    /// price (which depends on the currency), for `decodeSaleVariant` once `amount` is joined.
    private static func saleVariants(_ key: VariantKey) -> SQL {
        let selector: SQL = switch key {
        case .id(let id): "v.id = \(id)"
        case .sku(let sku): "v.sku = \(sku)"
        }
        return """
            SELECT v.id, v.sku, v.title AS variant_title, v.backorder, v.product_id, v.weight_grams, p.title, p.status,
                \(InventoryStore.available(ofVariantColumn: "v.id")) AS available
            FROM variants v JOIN products p ON p.id = v.product_id
            WHERE \(selector)
            """
    }

    private static func decodeSaleVariant(_ row: SQLRow) throws -> SaleVariant {
        let productTitle: String = try row.decode("title")
        let variantTitle: String = try row.decode("variant_title")
        return SaleVariant(
            id: try row.decode("id"), sku: try row.decode("sku"),
            title: variantTitle.isEmpty ? productTitle : "\(productTitle) – \(variantTitle)",
            productID: try row.decode("product_id"), weightGrams: try row.decode("weight_grams"),
            backorder: try row.decode("backorder", as: String.self) == "allow",
            forSale: try row.decode("status", as: String.self) == "active", price: try row.decode("amount"),
            available: try row.decode("available"))
    }

    /// Adds a line, or sets the quantity of the line that already holds the variant.
    func upsert(
        cart: ID<Cart>, id: ID<CartItem>, variant: ID<Variant>, quantity: Int64, sku: String, title: String, unitPrice: Int64,
        at now: Date, on db: any SQLExecutor
    ) async throws {
        try await db.execute("""
            INSERT INTO cart_items (id, cart_id, variant_id, quantity, sku, title, unit_price, created_at, updated_at)
            VALUES (\(id), \(cart), \(variant), \(quantity), \(sku), \(title), \(unitPrice), \(now), \(now))
            ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = excluded.quantity, sku = excluded.sku,
                title = excluded.title, unit_price = excluded.unit_price, updated_at = excluded.updated_at
            """)
    }

    /// Moves the cart to its next version and writes the line, if the cart is still open at
    /// `version`: the new version, or nil. On PostgreSQL one statement does both (a
    /// data-modifying CTE runs to completion whether or not it is read), one round trip where
    /// BEGIN, two statements and COMMIT took four; on SQLite a transaction on the writer.
    func bumpAndUpsert(
        cart: ID<Cart>, ifAt version: Int64, line: CartItem, at now: Date, in database: any Database
    ) async throws -> Int64? {
        if database.dialect == .postgres {
            return try await bumpAndUpsert(cart: cart, ifAt: version, line: line, at: now, on: database)
        }
        return try await database.transaction { db in
            try await bumpAndUpsert(cart: cart, ifAt: version, line: line, at: now, on: db)
        }
    }

    /// The same inside the caller's transaction (on SQLite it must be one: two statements).
    func bumpAndUpsert(
        cart: ID<Cart>, ifAt version: Int64, line: CartItem, at now: Date, on db: any SQLExecutor
    ) async throws -> Int64? {
        guard db.dialect == .postgres else {
            guard let next = try await bump(cart, ifAt: version, at: now, on: db) else { return nil }
            try await upsert(
                cart: cart, id: line.id, variant: line.variantID, quantity: line.quantity, sku: line.sku, title: line.title,
                unitPrice: line.unitPrice, at: now, on: db)
            return next
        }
        return try await db.queryFirst("""
            WITH bumped AS (
                UPDATE carts SET version = version + 1, updated_at = \(now)
                WHERE id = \(cart) AND status = 'open' AND version = \(version) RETURNING version
            ), line AS (
                INSERT INTO cart_items (id, cart_id, variant_id, quantity, sku, title, unit_price, created_at, updated_at)
                SELECT \(line.id), \(cart), \(line.variantID), \(line.quantity), \(line.sku), \(line.title), \(line.unitPrice),
                    \(now), \(now)
                FROM bumped
                ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = excluded.quantity, sku = excluded.sku,
                    title = excluded.title, unit_price = excluded.unit_price, updated_at = excluded.updated_at
            )
            SELECT version FROM bumped
            """)?.decode("version")
    }

    func setQuantity(_ quantity: Int64, item: ID<CartItem>, cart: ID<Cart>, at now: Date, on db: any SQLExecutor) async throws -> Bool {
        try await !db.query("""
            UPDATE cart_items SET quantity = \(quantity), updated_at = \(now) WHERE id = \(item) AND cart_id = \(cart) RETURNING id
            """).isEmpty
    }

    /// Brings a line's copied price up to the catalog's.
    func reprice(_ item: ID<CartItem>, to price: Int64, at now: Date, on db: any SQLExecutor) async throws {
        try await db.execute("UPDATE cart_items SET unit_price = \(price), updated_at = \(now) WHERE id = \(item)")
    }

    func deleteItem(_ item: ID<CartItem>, cart: ID<Cart>, on db: any SQLExecutor) async throws -> Bool {
        try await !db.query("DELETE FROM cart_items WHERE id = \(item) AND cart_id = \(cart) RETURNING id").isEmpty
    }

    /// Deletes guest carts untouched since `cutoff` that never became an order, a batch at a
    /// time (their lines go with them); returns how many.
    func purgeAbandonedGuestCarts(untouchedSince cutoff: Date, batch: Int, on db: any SQLExecutor) async throws -> Int {
        try await db.query("""
            DELETE FROM carts WHERE id IN (
                SELECT id FROM carts WHERE user_id IS NULL AND status IN ('open', 'merged') AND updated_at < \(cutoff)
                  AND NOT EXISTS (SELECT 1 FROM orders WHERE orders.cart_id = carts.id)
                LIMIT \(batch))
            RETURNING id
            """).count
    }

    private func sealedAddress(of cart: Cart) throws -> String? {
        try cart.shippingAddress.map { address in
            try cipher.seal(CatalogStore.json(address), context: Self.addressContext(cart.id.description))
        }
    }

    static func addressContext(_ id: String) -> String { "carts.shipping_address:\(id)" }

    private func decode(_ row: SQLRow) throws -> Cart {
        let id: ID<Cart> = try row.decode("id")
        let code: String = try row.decode("currency")
        guard let currency = Currency(code: code) else {
            throw DatabaseError.decoding(column: "currency", expected: "ISO 4217 code", found: code)
        }
        let address = try row.decode("shipping_address", as: String?.self).map { sealed in
            try CatalogStore.fromJSON(try cipher.open(sealed, context: Self.addressContext(id.description)), as: AddressFields.self)
        }
        return Cart(
            id: id, secretHash: try row.decode("secret_hash"), userID: try row.decode("user_id"), currency: currency,
            email: try row.decode("email"), shippingAddress: address, shippingMethodID: try row.decode("shipping_method_id"),
            shippingRateID: try row.decode("shipping_rate_id"),
            discountCode: try row.decode("discount_code"),
            status: Cart.Status(rawValue: try row.decode("status")) ?? .converted, version: try row.decode("version"),
            createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
    }
}
