import EmporiumCore
import EmporiumStorage
import Foundation

extension OrderStore {
    /// One fulfilment of an order as staff see it: where it left from, how, and which lines.
    struct Shipment: Sendable {
        let id: String
        let locationID: String
        let carrier: String?
        let trackingNumber: String?
        let createdAt: Date
        var lines: [(lineID: String, quantity: Int64)]
    }

    /// The order's fulfilments with their lines, oldest first, in one statement.
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
                    trackingNumber: try row.decode("tracking_number"), createdAt: try row.decode("created_at", as: Date.self),
                    lines: []))
            }
            if let line = try row.decode("order_line_id", as: String?.self) {
                shipments[shipments.count - 1].lines.append((line, try row.decode("quantity")))
            }
        }
        return shipments
    }
}
