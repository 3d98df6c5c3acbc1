import EmporiumCore
import EmporiumStorage
import Foundation

/// What staff do with stock: adjust it, list levels and the ledger.
extension InventoryStore {
    /// A variant as the inventory pages show it.
    struct StockVariant: Sendable {
        let id: ID<Variant>
        let sku: String
        let productID: String
        let lowStockThreshold: Int64
    }

    func variant(sku: String, on db: any SQLExecutor) async throws -> StockVariant? {
        try await db.queryFirst("SELECT id, sku, product_id, low_stock_threshold FROM variants WHERE sku = \(sku)")
            .map(Self.decodeVariant)
    }

    func variant(_ id: ID<Variant>, on db: any SQLExecutor) async throws -> StockVariant? {
        try await db.queryFirst("SELECT id, sku, product_id, low_stock_threshold FROM variants WHERE id = \(id)")
            .map(Self.decodeVariant)
    }

    /// A staff adjustment: `apply`, `inventory.low_stock` when it took the variant to its
    /// threshold, and the storefront caches told of the variant's new stock.
    func adjust(
        _ change: Change, of variant: StockVariant, at location: ID<StockLocation>, reason: String, reference: String?,
        actor: AuditLog.Actor?, at now: Date, on db: any SQLExecutor
    ) async throws -> ApplyResult {
        let result = try await apply(
            change, variant: variant.id, location: location, reason: reason, reference: reference, actor: actor, at: now, on: db)
        guard case .applied(_, let movement) = result else { return result }
        if movement.onHandDelta < 0, let after = try await stockFigures(of: variant.id, on: db) {
            try await noteLowStock(of: variant.id, sku: variant.sku, taken: -movement.onHandDelta, after: after, at: movement.createdAt, on: db)
        }
        try await CatalogChanges.stockChanged(variantIDs: [variant.id], on: db)
        return result
    }

    struct LevelFilter: Sendable {
        var location: ID<StockLocation>?
        var sku: String?
        /// Only levels at or below their variant's low-stock threshold.
        var belowThreshold = false
        /// The (sku, location id) a page continues after.
        var after: (sku: String, location: String)?
        var limit: Int
    }

    /// Levels with their variants, by SKU then location; up to `limit + 1`, as `Page` expects.
    func levels(_ filter: LevelFilter, on db: any SQLExecutor) async throws -> [(InventoryLevel, StockVariant)] {
        var conditions: [SQL] = []
        if let location = filter.location { conditions.append("l.location_id = \(location)") }
        if let sku = filter.sku { conditions.append("v.sku = \(sku)") }
        if filter.belowThreshold { conditions.append("l.on_hand - l.reserved <= v.low_stock_threshold") }
        if let after = filter.after {
            conditions.append("(v.sku > \(after.sku) OR (v.sku = \(after.sku) AND l.location_id > \(after.location)))")
        }
        let rows = try await db.query("""
            SELECT l.*, v.sku, v.product_id, v.low_stock_threshold FROM inventory_levels l
            JOIN variants v ON v.id = l.variant_id \(Self.whereClause(conditions))
            ORDER BY v.sku, l.location_id LIMIT \(filter.limit + 1)
            """)
        return try rows.map { row in
            let level = try Self.decodeLevel(row)
            return (level, StockVariant(
                id: level.variantID, sku: try row.decode("sku"), productID: try row.decode("product_id"),
                lowStockThreshold: try row.decode("low_stock_threshold")))
        }
    }

    struct MovementFilter: Sendable {
        var sku: String?
        var location: ID<StockLocation>?
        /// The movement id a page continues after.
        var after: String?
        var limit: Int
    }

    /// The ledger, oldest first; up to `limit + 1`, as `Page` expects.
    func movements(_ filter: MovementFilter, on db: any SQLExecutor) async throws -> [InventoryMovement] {
        var conditions: [SQL] = []
        if let after = filter.after { conditions.append("m.id > \(after)") }
        if let sku = filter.sku { conditions.append("v.sku = \(sku)") }
        if let location = filter.location { conditions.append("m.location_id = \(location)") }
        return try await db.query("""
            SELECT m.* FROM inventory_movements m LEFT JOIN variants v ON v.id = m.variant_id \(Self.whereClause(conditions))
            ORDER BY m.id LIMIT \(filter.limit + 1)
            """).map(Self.decodeMovement)
    }

    private static func whereClause(_ conditions: [SQL]) -> SQL {
        conditions.isEmpty ? "" : "WHERE " + SQL.joined(conditions, separator: " AND ")
    }

    private static func decodeVariant(_ row: SQLRow) throws -> StockVariant {
        StockVariant(
            id: try row.decode("id"), sku: try row.decode("sku"), productID: try row.decode("product_id"),
            lowStockThreshold: try row.decode("low_stock_threshold"))
    }
}
