import EmporiumCore
import EmporiumStorage
import Foundation

/// A place stock is kept: a warehouse, a shop's back room.
struct StockLocation: Sendable, Equatable {
    let id: ID<StockLocation>
    var code: String
    var name: String
    let createdAt: Date
    var updatedAt: Date
}

/// Stock of one variant at one location. Available = on hand − reserved, never negative
/// (the schema enforces it too).
struct InventoryLevel: Sendable, Equatable {
    let variantID: ID<Variant>
    let locationID: ID<StockLocation>
    var onHand: Int64
    var reserved: Int64
    var updatedAt: Date

    var available: Int64 { onHand - reserved }
}

/// One change to a level, as the ledger records it.
struct InventoryMovement: Sendable {
    let id: ID<InventoryMovement>
    let variantID: ID<Variant>
    let locationID: ID<StockLocation>
    let onHandDelta: Int64
    let reservedDelta: Int64
    let reason: String
    let reference: String?
    let actor: AuditLog.Actor?
    let createdAt: Date
}

/// The inventory tables (`stock_locations`, `inventory_levels`, `inventory_movements`): the
/// only code that writes them. Every change to a level writes its ledger row in the same
/// transaction, so the ledger always sums to the level. Staff adjustments are here; what
/// orders do to stock (reserve, release, ship) is in `InventoryStore+Orders.swift`.
struct InventoryStore: Sendable {
    let ids: any IDGenerator

    /// Low-stock events go out with the change that caused them.
    var outbox: Outbox { Outbox(ids: ids) }

    // MARK: Locations

    func insert(_ location: StockLocation, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO stock_locations (id, code, name, created_at, updated_at)
            VALUES (\(location.id), \(location.code), \(location.name), \(location.createdAt), \(location.updatedAt))
            """)
    }

    func locations(on db: any SQLExecutor) async throws -> [StockLocation] {
        try await db.query("SELECT * FROM stock_locations ORDER BY code").map { row in
            StockLocation(
                id: try row.decode("id"), code: try row.decode("code"), name: try row.decode("name"),
                createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
        }
    }

    func location(_ id: ID<StockLocation>, on db: any SQLExecutor) async throws -> Bool {
        try await db.queryFirst("SELECT id FROM stock_locations WHERE id = \(id)") != nil
    }

    // MARK: Levels

    enum Change: Sendable {
        /// Add to (or, negative, take from) on hand.
        case delta(Int64)
        /// Set on hand to a counted quantity.
        case count(Int64)
    }

    enum ApplyResult: Sendable {
        case applied(InventoryLevel, InventoryMovement)
        /// On hand would fall below zero or below what is reserved.
        case insufficient(available: Int64)
    }

    /// Changes on hand with one conditional UPDATE (never read-then-write for a delta) and
    /// appends the movement. Run it inside a transaction.
    func apply(
        _ change: Change, variant: ID<Variant>, location: ID<StockLocation>, reason: String, reference: String?,
        actor: AuditLog.Actor?, at now: Date, on db: any SQLExecutor
    ) async throws -> ApplyResult {
        try await db.execute("""
            INSERT INTO inventory_levels (variant_id, location_id, on_hand, reserved, updated_at)
            VALUES (\(variant), \(location), 0, 0, \(now)) ON CONFLICT (variant_id, location_id) DO NOTHING
            """)
        let updated: SQLRow?
        let onHandDelta: Int64
        switch change {
        case .delta(let delta):
            updated = try await db.queryFirst("""
                UPDATE inventory_levels SET on_hand = on_hand + \(delta), updated_at = \(now)
                WHERE variant_id = \(variant) AND location_id = \(location) AND on_hand + \(delta) - reserved >= 0
                RETURNING on_hand, reserved, updated_at
                """)
            onHandDelta = delta
        case .count(let quantity):
            // The ledger needs the difference, so the row is locked while it is read.
            let lock: SQL = db.dialect == .postgres ? " FOR UPDATE" : ""
            guard let current = try await db.queryFirst("""
                SELECT on_hand FROM inventory_levels WHERE variant_id = \(variant) AND location_id = \(location)\(lock)
                """)
            else { return .insufficient(available: 0) }
            let previous: Int64 = try current.decode("on_hand")
            updated = try await db.queryFirst("""
                UPDATE inventory_levels SET on_hand = \(quantity), updated_at = \(now)
                WHERE variant_id = \(variant) AND location_id = \(location) AND \(quantity) - reserved >= 0
                RETURNING on_hand, reserved, updated_at
                """)
            onHandDelta = quantity - previous
        }
        guard let updated else {
            let level = try await self.level(variant: variant, location: location, on: db)
            return .insufficient(available: level?.available ?? 0)
        }
        let level = InventoryLevel(
            variantID: variant, locationID: location, onHand: try updated.decode("on_hand"),
            reserved: try updated.decode("reserved"), updatedAt: try updated.decode("updated_at"))
        let movement = InventoryMovement(
            id: ids.make(), variantID: variant, locationID: location, onHandDelta: onHandDelta, reservedDelta: 0,
            reason: reason, reference: reference, actor: actor, createdAt: now)
        try await record(movement, on: db)
        return .applied(level, movement)
    }

    func record(_ movement: InventoryMovement, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO inventory_movements (id, variant_id, location_id, on_hand_delta, reserved_delta, reason, reference,
                                             actor_id, actor_type, created_at)
            VALUES (\(movement.id), \(movement.variantID), \(movement.locationID), \(movement.onHandDelta),
                    \(movement.reservedDelta), \(movement.reason), \(movement.reference), \(movement.actor?.id),
                    \(movement.actor?.type), \(movement.createdAt))
            """)
    }

    func level(variant: ID<Variant>, location: ID<StockLocation>, on db: any SQLExecutor) async throws -> InventoryLevel? {
        try await db.queryFirst("""
            SELECT * FROM inventory_levels WHERE variant_id = \(variant) AND location_id = \(location)
            """).map(Self.decodeLevel)
    }

    /// A variant's available stock over all locations, beside its low-stock threshold.
    struct StockFigures: Sendable {
        let available: Int64
        let threshold: Int64

        /// Whether taking `taken` units, which left these figures, changed what a storefront
        /// shows of the variant. The back-order setting only renames "out of stock", which
        /// both sides then share, so it cannot decide this.
        func bandMoved(by taken: Int64) -> Bool {
            VariantResponse.availability(available: available, threshold: threshold, backorder: .deny)
                != VariantResponse.availability(available: available + taken, threshold: threshold, backorder: .deny)
        }
    }

    /// The variant's figures as they are now; nil for an unknown variant.
    func stockFigures(of variant: ID<Variant>, on db: any SQLExecutor) async throws -> StockFigures? {
        try await db.queryFirst("""
            SELECT low_stock_threshold AS threshold, \(Self.available(ofVariantColumn: "\(variant)")) AS available
            FROM variants WHERE id = \(variant)
            """).map { row in StockFigures(available: try row.decode("available"), threshold: try row.decode("threshold")) }
    }

    /// Records `inventory.low_stock` when taking `taken` units just brought the variant's
    /// available stock to or below its threshold (it was above before), so one crossing makes
    /// one event. `after` are the variant's figures once taken.
    func noteLowStock(
        of variant: ID<Variant>, sku: String, taken: Int64, after: StockFigures, at now: Date, on db: any SQLExecutor
    ) async throws {
        let (available, threshold) = (after.available, after.threshold)
        guard available <= threshold, available + taken > threshold else { return }
        struct Payload: Encodable {
            let variantID: String
            let sku: String
            let available: Int64
            let threshold: Int64

            enum CodingKeys: String, CodingKey {
                case sku, available, threshold
                case variantID = "variant_id"
            }
        }
        try await outbox.record(
            "inventory.low_stock", aggregate: "variant", id: variant.description,
            payload: Payload(variantID: variant.description, sku: sku, available: available, threshold: threshold), at: now, on: db)
    }

    /// Available stock of one variant, over all locations.
    func available(of variant: ID<Variant>, on db: any SQLExecutor) async throws -> Int64 {
        try await db.queryFirst("SELECT \(Self.available(ofVariantColumn: "\(variant)")) AS available")?.decode("available") ?? 0
    }

    /// Units of a variant that can be sold now, over all locations, as a scalar subquery that
    /// other reads embed (the cart's variant lookup, the product page) so that they stay one
    /// statement. `column` is SQL naming the variant id.
    static func available(ofVariantColumn column: SQL) -> SQL {
        "(SELECT CAST(COALESCE(SUM(l.on_hand - l.reserved), 0) AS BIGINT) FROM inventory_levels l WHERE l.variant_id = \(column))"
    }

    static func decodeMovement(_ row: SQLRow) throws -> InventoryMovement {
        let actorID: String? = try row.decode("actor_id")
        let actor: AuditLog.Actor? = switch (try row.decode("actor_type", as: String?.self), actorID) {
        case ("user", let id?): ID<User>(id).map(AuditLog.Actor.user)
        case ("api_key", let id?): ID<APIKey>(id).map(AuditLog.Actor.apiKey)
        default: nil
        }
        return InventoryMovement(
            id: try row.decode("id"), variantID: try row.decode("variant_id"), locationID: try row.decode("location_id"),
            onHandDelta: try row.decode("on_hand_delta"), reservedDelta: try row.decode("reserved_delta"),
            reason: try row.decode("reason"), reference: try row.decode("reference"), actor: actor,
            createdAt: try row.decode("created_at"))
    }

    static func decodeLevel(_ row: SQLRow) throws -> InventoryLevel {
        InventoryLevel(
            variantID: try row.decode("variant_id"), locationID: try row.decode("location_id"),
            onHand: try row.decode("on_hand"), reserved: try row.decode("reserved"), updatedAt: try row.decode("updated_at"))
    }
}
