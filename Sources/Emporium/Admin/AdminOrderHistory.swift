import EmporiumCore
import EmporiumStorage
import Foundation

/// What an order's page shows besides the order service's answer: its fulfilments with their
/// lines, and its events as the outbox still holds them (published ones are kept for
/// `--event-retention`). Reads only; the order store and the outbox remain the writers, and
/// neither has a reader for these lists yet.
struct AdminOrderHistory: Sendable {
    struct Shipment: Sendable {
        let id: String
        let locationID: String
        let carrier: String?
        let trackingNumber: String?
        let createdAt: String
        var lines: [(lineID: String, quantity: Int64)]
    }

    struct Event: Sendable {
        let sequence: Int64
        let type: String
        let createdAt: String
        let published: Bool
    }

    func shipments(of order: ID<Order>, on db: any SQLExecutor) async throws -> [Shipment] {
        let rows = try await db.query("""
            SELECT f.id, f.location_id, f.carrier, f.tracking_number, f.created_at, l.order_line_id, l.quantity
            FROM fulfillments f LEFT JOIN fulfillment_lines l ON l.fulfillment_id = f.id
            WHERE f.order_id = \(order) ORDER BY f.id, l.order_line_id
            """)
        var shipments: [Shipment] = []
        for row in rows {
            let id: String = try row.decode("id")
            if shipments.last?.id != id {
                shipments.append(Shipment(
                    id: id, locationID: try row.decode("location_id"), carrier: try row.decode("carrier"),
                    trackingNumber: try row.decode("tracking_number"),
                    createdAt: Timestamp.string(from: try row.decode("created_at", as: Date.self)), lines: []))
            }
            if let line = try row.decode("order_line_id", as: String?.self) {
                shipments[shipments.count - 1].lines.append((line, try row.decode("quantity")))
            }
        }
        return shipments
    }

    /// The order's events, oldest first (at most `limit`).
    func events(of order: ID<Order>, limit: Int = 100, on db: any SQLExecutor) async throws -> [Event] {
        try await db.query("""
            SELECT sequence, event_type, created_at, published_at FROM outbox
            WHERE aggregate_type = 'order' AND aggregate_id = \(order.description) ORDER BY sequence LIMIT \(limit)
            """).map { row in
            Event(
                sequence: try row.decode("sequence"), type: try row.decode("event_type"),
                createdAt: Timestamp.string(from: try row.decode("created_at", as: Date.self)),
                published: try row.decode("published_at", as: String?.self) != nil)
        }
    }
}
