import EmporiumCore
import EmporiumStorage
import Foundation

/// What orders do to stock: reserve it at checkout, give it back when an order is cancelled,
/// take it off the shelf when lines ship. Each change is one conditional UPDATE (never
/// read-then-write) and one ledger row.
///
/// Lock order: every path that changes several stock rows in one transaction changes them
/// sorted by variant id, then location id. PostgreSQL locks a row at its UPDATE until commit,
/// so two transactions that take rows in one order wait for each other but never deadlock
/// (Saleor's `checkout/lock_objects.py` follows the same rule).
///
/// Each method also tells the storefront caches which variants' stock changed (a reservation:
/// whose stock band it moved), in the same transaction, so no caller can forget it.
extension InventoryStore {
    /// A quantity of one variant an order wants reserved.
    struct StockRequest: Sendable {
        let variantID: ID<Variant>
        let sku: String
        let quantity: Int64
        /// Back-ordered variants sell without stock: when none is free they reserve nothing.
        let backorder: Bool
    }

    /// A request that could not be reserved: its index among the requests and what was free.
    struct Shortage: Sendable {
        let index: Int
        let request: StockRequest
        let available: Int64
    }

    /// A change to one stock row made for an order.
    struct StockChange: Sendable {
        let variantID: ID<Variant>
        let locationID: ID<StockLocation>
        let onHandDelta: Int64
        let reservedDelta: Int64
        let sku: String
    }

    static func lockOrder(_ a: (ID<Variant>, ID<StockLocation>), _ b: (ID<Variant>, ID<StockLocation>)) -> Bool {
        a.0 != b.0 ? a.0 < b.0 : a.1 < b.1
    }

    /// Reserves every request at one location each, the first location (by id) with enough
    /// free stock. Returns where each variant was reserved, and the requests that could not
    /// be: the caller rolls the transaction back when there are any. Also records
    /// `inventory.low_stock` for variants whose reservation crossed their threshold.
    ///
    /// Storefront caches are told only of variants whose stock band (what a product page
    /// shows: in stock, low, out, the quantity band) the reservation moved, where the figures
    /// read are certain: on SQLite, whose writer runs one transaction at a time, and on
    /// PostgreSQL for a variant stocked at one location, whose row lock puts its writers in
    /// turn. Most checkouts move no band, and announcing each one cost every checkout a log
    /// row (and on PostgreSQL a notification) and every node the cached pages of the products
    /// sold. On PostgreSQL, a variant stocked at several locations is always announced: a
    /// reservation committing meanwhile at another location is not in the figures read, so
    /// both could see no move while together they moved the band.
    func reserve(
        _ requests: [StockRequest], reference: String, at now: Date, on db: any SQLExecutor
    ) async throws -> (locations: [ID<Variant>: ID<StockLocation>], shortages: [Shortage]) {
        var locations: [ID<Variant>: ID<StockLocation>] = [:]
        var shortages: [Shortage] = []
        var announced: [ID<Variant>] = []
        // Variant order (see the lock order above); within a variant, locations in id order.
        for (index, request) in requests.enumerated().sorted(by: { $0.element.variantID < $1.element.variantID }) {
            var location: ID<StockLocation>?
            var figures: StockFigures?
            /// Whether the reserving statement wrote the ledger row too.
            var recorded = false
            if db.dialect == .postgres {
                switch try await reserveInOneStatement(request, reference: reference, at: now, on: db) {
                case .reserved(let at, let available, let threshold):
                    (location, recorded) = (at, true)
                    // nil when stocked elsewhere too: then the figures need a read of their own.
                    figures = available.map { StockFigures(available: $0, threshold: threshold) }
                case .notAtFirstLocation:
                    location = try await reserveAtEachLocation(request, at: now, on: db)
                }
            } else {
                location = try await reserveAtOneLocation(request, at: now, on: db)
            }
            guard let location else {
                if request.backorder { continue }
                shortages.append(Shortage(
                    index: index, request: request, available: try await available(of: request.variantID, on: db)))
                continue
            }
            locations[request.variantID] = location
            if !recorded {
                try await record(
                    InventoryMovement(
                        id: ids.make(), variantID: request.variantID, locationID: location, onHandDelta: 0,
                        reservedDelta: request.quantity, reason: "reserved", reference: reference, actor: nil, createdAt: now),
                    on: db)
            }
            let certain = figures != nil || db.dialect == .sqlite
            if figures == nil { figures = try await stockFigures(of: request.variantID, on: db) }
            guard let after = figures else { continue }
            try await noteLowStock(of: request.variantID, sku: request.sku, taken: request.quantity, after: after, at: now, on: db)
            if !certain || after.bandMoved(by: request.quantity) { announced.append(request.variantID) }
        }
        try await CatalogChanges.stockChanged(variantIDs: announced, on: db)
        return (locations, shortages)
    }

    /// The UPDATE that reserves a request at the first location (by id) with enough free stock,
    /// returning the location and what is left there.
    private static func reserveAtFirstLocation(_ request: StockRequest, at now: Date) -> SQL {
        let variant = request.variantID
        let quantity = request.quantity
        return """
            UPDATE inventory_levels SET reserved = reserved + \(quantity), updated_at = \(now)
            WHERE variant_id = \(variant) AND on_hand - reserved >= \(quantity) AND location_id = (
                SELECT location_id FROM inventory_levels
                WHERE variant_id = \(variant) AND on_hand - reserved >= \(quantity) ORDER BY location_id LIMIT 1)
            RETURNING location_id, on_hand - reserved AS left_here
            """
    }

    private enum OneStatementReservation {
        /// Reserved at `location`. `available` is what the variant has left when it is stocked
        /// at that location only (nil otherwise), beside its low-stock threshold.
        case reserved(location: ID<StockLocation>, available: Int64?, threshold: Int64)
        /// The first location with enough was taken meanwhile, or none has enough.
        case notAtFirstLocation
    }

    /// On PostgreSQL, the usual reservation in one round trip: the reservation at the first
    /// location with enough free stock, its ledger row, and what the low-stock check needs.
    ///
    /// The row this UPDATE reserves is read as it leaves it, even after waiting for another
    /// checkout's lock on it; anything else in the statement reads the snapshot taken before
    /// that wait. So the variant's available stock is taken from this statement only when this
    /// location is its only one; otherwise stock committed elsewhere during the wait would be
    /// missed, and the caller reads it afresh.
    private func reserveInOneStatement(
        _ request: StockRequest, reference: String, at now: Date, on db: any SQLExecutor
    ) async throws -> OneStatementReservation {
        let variant = request.variantID
        let movement: ID<InventoryMovement> = ids.make()
        guard let row = try await db.queryFirst("""
            WITH reserved AS (\(Self.reserveAtFirstLocation(request, at: now))), movement AS (
                INSERT INTO inventory_movements (id, variant_id, location_id, on_hand_delta, reserved_delta, reason, reference, created_at)
                SELECT \(movement), \(variant), location_id, 0, \(request.quantity), 'reserved', \(reference), \(now) FROM reserved
            )
            SELECT r.location_id, r.left_here,
                EXISTS (SELECT 1 FROM inventory_levels l WHERE l.variant_id = \(variant) AND l.location_id <> r.location_id) AS elsewhere,
                (SELECT low_stock_threshold FROM variants WHERE id = \(variant)) AS threshold
            FROM reserved r
            """)
        else { return .notAtFirstLocation }
        let elsewhere: Bool = try row.decode("elsewhere")
        return .reserved(
            location: try row.decode("location_id"), available: elsewhere ? nil : try row.decode("left_here"),
            threshold: try row.decode("threshold"))
    }

    private func reserveAtOneLocation(_ request: StockRequest, at now: Date, on db: any SQLExecutor) async throws -> ID<StockLocation>? {
        if let row = try await db.queryFirst(Self.reserveAtFirstLocation(request, at: now)) {
            return try row.decode("location_id")
        }
        return try await reserveAtEachLocation(request, at: now, on: db)
    }

    /// Another checkout may have taken the first location with enough; tries each in turn.
    private func reserveAtEachLocation(_ request: StockRequest, at now: Date, on db: any SQLExecutor) async throws -> ID<StockLocation>? {
        let variant = request.variantID
        let quantity = request.quantity
        for row in try await db.query("SELECT location_id FROM inventory_levels WHERE variant_id = \(variant) ORDER BY location_id") {
            let location: ID<StockLocation> = try row.decode("location_id")
            if try await db.queryFirst("""
                UPDATE inventory_levels SET reserved = reserved + \(quantity), updated_at = \(now)
                WHERE variant_id = \(variant) AND location_id = \(location) AND on_hand - reserved >= \(quantity)
                RETURNING location_id
                """) != nil {
                return location
            }
        }
        return nil
    }

    /// Gives back reserved units (each change's `reservedDelta` is negative), in lock order.
    /// Returns the changes that found fewer units reserved than they give back, which are
    /// skipped: the caller reports them.
    func release(_ changes: [StockChange], reference: String, at now: Date, on db: any SQLExecutor) async throws -> [StockChange] {
        var missing: [StockChange] = []
        for change in changes.sorted(by: { Self.lockOrder(($0.variantID, $0.locationID), ($1.variantID, $1.locationID)) }) {
            let quantity = -change.reservedDelta
            guard try await db.queryFirst("""
                UPDATE inventory_levels SET reserved = reserved - \(quantity), updated_at = \(now)
                WHERE variant_id = \(change.variantID) AND location_id = \(change.locationID) AND reserved >= \(quantity)
                RETURNING reserved
                """) != nil
            else {
                missing.append(change)
                continue
            }
            try await record(
                InventoryMovement(
                    id: ids.make(), variantID: change.variantID, locationID: change.locationID, onHandDelta: 0,
                    reservedDelta: change.reservedDelta, reason: "released", reference: reference, actor: nil, createdAt: now),
                on: db)
        }
        try await CatalogChanges.stockChanged(variantIDs: changes.map(\.variantID), on: db)
        return missing
    }

    /// Takes shipped units off the shelf: on hand and reserved go down together where the
    /// stock was reserved at the shipping location; elsewhere the reservation is released and
    /// the units are taken from the shipping location. All or nothing: returns the first
    /// change that would take a row below zero (the caller rolls back), nil when all applied.
    func ship(
        _ changes: [StockChange], reference: String, actor: AuditLog.Actor?, at now: Date, on db: any SQLExecutor
    ) async throws -> StockChange? {
        for change in changes.sorted(by: { Self.lockOrder(($0.variantID, $0.locationID), ($1.variantID, $1.locationID)) }) {
            let onHand = change.onHandDelta
            let reserved = change.reservedDelta
            guard try await db.queryFirst("""
                UPDATE inventory_levels SET on_hand = on_hand + \(onHand), reserved = reserved + \(reserved), updated_at = \(now)
                WHERE variant_id = \(change.variantID) AND location_id = \(change.locationID)
                  AND on_hand + \(onHand) >= 0 AND reserved + \(reserved) >= 0 AND on_hand + \(onHand) - reserved - \(reserved) >= 0
                RETURNING on_hand
                """) != nil
            else { return change }
            try await record(
                InventoryMovement(
                    id: ids.make(), variantID: change.variantID, locationID: change.locationID, onHandDelta: onHand,
                    reservedDelta: reserved, reason: onHand == 0 ? "released" : "fulfilled", reference: reference,
                    actor: actor, createdAt: now),
                on: db)
        }
        try await CatalogChanges.stockChanged(variantIDs: changes.map(\.variantID), on: db)
        return nil
    }
}
