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
        try await record([(event, payload)], aggregate: aggregate, id: id, at: now, on: db)[0]
    }

    /// Records events of one aggregate, in this order (an order placed and paid at once);
    /// returns their ids. On PostgreSQL one statement however many there are.
    @discardableResult
    func record(
        _ events: [(event: String, payload: any Encodable)], aggregate: String, id: String, at now: Date, on db: any SQLExecutor
    ) async throws -> [String] {
        guard !events.isEmpty else { return [] }
        let eventIDs = events.map { _ in "evt_" + withUnsafeBytes(of: ids.makeUUID().uuid) { Hex.string($0) } }
        let count = Int64(events.count)
        // The upsert also serialises concurrent events of one aggregate on its sequence row.
        let nextSequence: SQL = """
            INSERT INTO outbox_sequences (aggregate_type, aggregate_id, last) VALUES (\(aggregate), \(id), \(count))
            ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET last = outbox_sequences.last + \(count)
            RETURNING last
            """
        let columns: SQL = "outbox (id, aggregate_type, aggregate_id, event_type, payload, created_at, sequence)"
        let rows = zip(eventIDs, events).enumerated().map { index, pair -> SQL in
            "(\(pair.0), \(pair.1.event), \(CatalogStore.json(pair.1.payload)), \(Int64(index) + 1))"
        }
        if db.dialect == .postgres {
            // One statement, one round trip. SQLite has no data-changing CTEs, and no round trips.
            try await db.execute("""
                WITH sequence AS (\(nextSequence))
                INSERT INTO \(columns)
                SELECT e.id, \(aggregate), \(id), e.type, e.payload, \(now), sequence.last - \(count) + e.position
                FROM sequence, (VALUES \(SQL.joined(rows, separator: ", "))) AS e (id, type, payload, position)
                """)
        } else {
            let last: Int64 = try await db.queryFirst(nextSequence)?.decode("last") ?? count
            try await db.execute("""
                INSERT INTO \(columns)
                SELECT e.column1, \(aggregate), \(id), e.column2, e.column3, \(now), \(last - count) + e.column4
                FROM (VALUES \(SQL.joined(rows, separator: ", "))) AS e
                """)
        }
        return eventIDs
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
