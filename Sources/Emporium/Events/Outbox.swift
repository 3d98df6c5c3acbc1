import EmporiumCore
import EmporiumStorage
import Foundation

/// Domain events (DESIGN §4): a row written in the transaction of the change it reports, so an
/// event exists exactly when its change does. Each has a unique id and a sequence number per
/// aggregate; `OutboxRelay` turns them into jobs in that order.
struct Outbox: Sendable {
    let ids: any IDGenerator

    /// Records an event; returns its id.
    @discardableResult
    func record(
        _ event: String, aggregate: String, id: String, payload: some Encodable, at now: Date, on db: any SQLExecutor
    ) async throws -> String {
        let eventID = "evt_" + ids.makeUUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        // The upsert also serialises concurrent events of one aggregate on its sequence row.
        let nextSequence: SQL = """
            INSERT INTO outbox_sequences (aggregate_type, aggregate_id, last) VALUES (\(aggregate), \(id), 1)
            ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET last = outbox_sequences.last + 1
            RETURNING last
            """
        let columns: SQL = "outbox (id, aggregate_type, aggregate_id, event_type, payload, created_at, sequence)"
        let values: SQL = "\(eventID), \(aggregate), \(id), \(event), \(CatalogStore.json(payload)), \(now)"
        if db.dialect == .postgres {
            // One statement, one round trip. SQLite has no data-changing CTEs, and no round trips.
            try await db.execute("WITH sequence AS (\(nextSequence)) INSERT INTO \(columns) SELECT \(values), last FROM sequence")
        } else {
            let sequence: Int64 = try await db.queryFirst(nextSequence)?.decode("last") ?? 1
            try await db.execute("INSERT INTO \(columns) VALUES (\(values), \(sequence))")
        }
        return eventID
    }

    /// An event as the outbox still holds it (to deliver it again). Published events are kept
    /// for `--event-retention`, as long as the webhook delivery log.
    func event(_ id: String, on db: any SQLExecutor) async throws -> OutboxEvent? {
        try await db.queryFirst("SELECT * FROM outbox WHERE id = \(id)").map(OutboxEvent.init(row:))
    }
}

/// An event as the relay reads it.
struct OutboxEvent: Sendable {
    let id: String
    let aggregateType: String
    let aggregateID: String
    let type: String
    /// The event's data as a JSON object.
    let payload: String
    let sequence: Int64
    let createdAt: Date

    init(row: SQLRow) throws {
        id = try row.decode("id")
        aggregateType = try row.decode("aggregate_type")
        aggregateID = try row.decode("aggregate_id")
        type = try row.decode("event_type")
        payload = try row.decode("payload")
        sequence = try row.decode("sequence")
        createdAt = try row.decode("created_at")
    }

    /// Jobs of one consumer for one aggregate run in event order under this key.
    func orderingKey(consumer: String) -> String {
        "\(consumer):\(aggregateType):\(aggregateID)"
    }
}

/// What each consumer queues for an event. Consumers are asked inside the relay's transaction,
/// so an event is marked published exactly when its jobs exist.
protocol EventConsumer: Sendable {
    func jobs(for events: [OutboxEvent], on db: any SQLExecutor) async throws -> [JobRequest]
}
