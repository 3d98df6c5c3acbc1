import EmporiumCore
import EmporiumStorage
import Foundation

/// A label bought, or being bought, from the carrier for one fulfilment.
struct ShippingLabel: Sendable, Equatable {
    enum Status: String, Sendable {
        /// Recorded before the carrier is called; the call may or may not have happened.
        case pending
        case purchased
    }

    let fulfillmentID: ID<Fulfillment>
    let orderID: ID<Order>
    let service: String
    /// Sent with every purchase call of this label, so the carrier sells it once.
    let idempotencyKey: String
    let status: Status
    let carrierLabelID: String?
    /// The carrier's name for itself, from the label.
    let carrier: String?
    let trackingNumber: String?
    let labelURL: String?
    let lastError: String?
    let attempts: Int64
    let createdAt: Date
    let updatedAt: Date

    /// The key of a fulfilment's label: ours, so a retry after a crash asks for the same label.
    static func idempotencyKey(for fulfillment: ID<Fulfillment>) -> String { "label-\(fulfillment)" }
}

/// The `shipping_labels` table: the only code that writes it.
struct ShippingLabelStore: Sendable {
    /// The step before the carrier is called, in the fulfilment's transaction.
    func insertPending(
        _ fulfillment: ID<Fulfillment>, order: ID<Order>, service: String, at now: Date, on db: any SQLExecutor
    ) async throws {
        try await db.execute("""
            INSERT INTO shipping_labels (fulfillment_id, order_id, service, idempotency_key, status, attempts, created_at, updated_at)
            VALUES (\(fulfillment), \(order), \(service), \(ShippingLabel.idempotencyKey(for: fulfillment)), 'pending', 0, \(now), \(now))
            """)
    }

    func find(_ fulfillment: ID<Fulfillment>, on db: any SQLExecutor) async throws -> ShippingLabel? {
        try await db.queryFirst("SELECT * FROM shipping_labels WHERE fulfillment_id = \(fulfillment)").map(Self.decode)
    }

    /// Records the carrier's label; false when another attempt recorded it first.
    func complete(_ fulfillment: ID<Fulfillment>, with label: CarrierLabel, at now: Date, on db: any SQLExecutor) async throws -> Bool {
        try await db.queryFirst("""
            UPDATE shipping_labels SET status = 'purchased', carrier_label_id = \(label.id), carrier = \(label.carrier),
                tracking_number = \(label.trackingNumber),
                label_url = \(label.labelURL), last_error = NULL, attempts = attempts + 1, updated_at = \(now)
            WHERE fulfillment_id = \(fulfillment) AND status = 'pending' RETURNING fulfillment_id
            """) != nil
    }

    /// Records a failed attempt; the label stays pending for the next.
    func failed(_ fulfillment: ID<Fulfillment>, reason: String, at now: Date, on db: any SQLExecutor) async throws {
        try await db.execute("""
            UPDATE shipping_labels SET last_error = \(String(reason.prefix(300))), attempts = attempts + 1, updated_at = \(now)
            WHERE fulfillment_id = \(fulfillment) AND status = 'pending'
            """)
    }

    /// What a fulfilment ships: its lines' variants and quantities, and its location.
    func shipment(
        of fulfillment: ID<Fulfillment>, on db: any SQLExecutor
    ) async throws -> (lines: [(variant: ID<Variant>, quantity: Int64)], location: ID<StockLocation>)? {
        guard let location: ID<StockLocation> = try await db.queryFirst("""
            SELECT location_id FROM fulfillments WHERE id = \(fulfillment)
            """)?.decode("location_id")
        else { return nil }
        let lines = try await db.query("""
            SELECT l.variant_id, f.quantity FROM fulfillment_lines f JOIN order_lines l ON l.id = f.order_line_id
            WHERE f.fulfillment_id = \(fulfillment) ORDER BY l.variant_id
            """).map { row in (variant: try row.decode("variant_id") as ID<Variant>, quantity: try row.decode("quantity") as Int64) }
        return (lines, location)
    }

    static func decode(_ row: SQLRow) throws -> ShippingLabel {
        ShippingLabel(
            fulfillmentID: try row.decode("fulfillment_id"), orderID: try row.decode("order_id"), service: try row.decode("service"),
            idempotencyKey: try row.decode("idempotency_key"),
            status: ShippingLabel.Status(rawValue: try row.decode("status")) ?? .pending,
            carrierLabelID: try row.decode("carrier_label_id"), carrier: try row.decode("carrier"), trackingNumber: try row.decode("tracking_number"),
            labelURL: try row.decode("label_url"), lastError: try row.decode("last_error"), attempts: try row.decode("attempts"),
            createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
    }
}
