import EmporiumCore
import EmporiumStorage
import Foundation

/// A way to ship, priced in one currency: a flat charge or weight tiers, optionally free over a
/// subtotal, to some countries (or everywhere when the list is empty).
struct ShippingMethod: Sendable, Equatable {
    let id: ID<ShippingMethod>
    var name: String
    var currency: Currency
    var rule: ShippingRule
    var countries: [String]
    var active: Bool
    let createdAt: Date
    var updatedAt: Date

    func ships(to country: String?) -> Bool {
        countries.isEmpty || country.map(countries.contains) == true
    }
}

/// The `shipping_methods` table.
struct ShippingMethodStore: Sendable {
    func insert(_ method: ShippingMethod, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO shipping_methods (id, name, currency, flat_amount, tiers, free_over, countries, active, created_at, updated_at)
            VALUES (\(method.id), \(method.name), \(method.currency.code), \(method.rule.flatAmount),
                    \(CatalogStore.json(method.rule.tiers)), \(method.rule.freeOver), \(CatalogStore.json(method.countries)),
                    \(method.active), \(method.createdAt), \(method.updatedAt))
            """)
    }

    func update(_ method: ShippingMethod, on db: any SQLExecutor) async throws {
        try await db.execute("""
            UPDATE shipping_methods SET name = \(method.name), currency = \(method.currency.code),
                flat_amount = \(method.rule.flatAmount), tiers = \(CatalogStore.json(method.rule.tiers)),
                free_over = \(method.rule.freeOver), countries = \(CatalogStore.json(method.countries)),
                active = \(method.active), updated_at = \(method.updatedAt)
            WHERE id = \(method.id)
            """)
    }

    func find(_ id: ID<ShippingMethod>, on db: any SQLExecutor) async throws -> ShippingMethod? {
        try await db.queryFirst("SELECT * FROM shipping_methods WHERE id = \(id)").map(Self.decode)
    }

    func all(on db: any SQLExecutor) async throws -> [ShippingMethod] {
        try await db.query("SELECT * FROM shipping_methods ORDER BY id").map(Self.decode)
    }

    func active(currency: Currency, on db: any SQLExecutor) async throws -> [ShippingMethod] {
        try await db.query("""
            SELECT * FROM shipping_methods WHERE currency = \(currency.code) AND active = \(true) ORDER BY id
            """).map(Self.decode)
    }

    func delete(_ id: ID<ShippingMethod>, on db: any SQLExecutor) async throws -> Bool {
        try await !db.query("DELETE FROM shipping_methods WHERE id = \(id) RETURNING id").isEmpty
    }

    static func decode(_ row: SQLRow) throws -> ShippingMethod {
        let code: String = try row.decode("currency")
        guard let currency = Currency(code: code) else {
            throw DatabaseError.decoding(column: "currency", expected: "ISO 4217 code", found: code)
        }
        return ShippingMethod(
            id: try row.decode("id"), name: try row.decode("name"), currency: currency,
            rule: ShippingRule(
                flatAmount: try row.decode("flat_amount"),
                tiers: try CatalogStore.fromJSON(try row.decode("tiers"), as: [ShippingRule.WeightTier].self),
                freeOver: try row.decode("free_over")),
            countries: try CatalogStore.fromJSON(try row.decode("countries"), as: [String].self),
            active: try row.decode("active"), createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
    }
}
