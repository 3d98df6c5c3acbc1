import EmporiumCore
import EmporiumStorage
import Foundation

extension Outbox {
    /// One event of an aggregate as the outbox still holds it (published ones are kept for
    /// `--event-retention`).
    struct HistoryEntry: Sendable {
        let sequence: Int64
        let type: String
        let createdAt: Date
        let published: Bool
    }

    /// An order's events, oldest first (at most `limit`).
    func history(ofOrder order: ID<Order>, limit: Int = 100, on db: any SQLExecutor) async throws -> [HistoryEntry] {
        try await db.query("""
            SELECT sequence, event_type, created_at, published_at FROM outbox
            WHERE aggregate_type = 'order' AND aggregate_id = \(order.description) ORDER BY sequence LIMIT \(limit)
            """).map { row in
            HistoryEntry(
                sequence: try row.decode("sequence"), type: try row.decode("event_type"),
                createdAt: try row.decode("created_at", as: Date.self),
                published: try row.decode("published_at", as: String?.self) != nil)
        }
    }
}
