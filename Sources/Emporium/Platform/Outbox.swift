import EmporiumCore
import EmporiumStorage
import Foundation

/// Events for webhooks and notifications (DESIGN §4): a row written in the transaction of the
/// change it reports, so an event exists exactly when its change does. A publisher reads them
/// in `id` order (time-ordered) per aggregate.
struct Outbox: Sendable {
    let ids: any IDGenerator

    func record(
        _ event: String, aggregate: String, id: String, payload: some Encodable, at now: Date, on db: any SQLExecutor
    ) async throws {
        try await db.execute("""
            INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, created_at)
            VALUES (\(ids.makeUUID().uuidString.lowercased()), \(aggregate), \(id), \(event), \(CatalogStore.json(payload)), \(now))
            """)
    }
}
