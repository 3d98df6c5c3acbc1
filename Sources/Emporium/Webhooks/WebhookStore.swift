import EmporiumCore
import EmporiumStorage
import Foundation

/// The `webhook_endpoints` and `webhook_deliveries` tables. Secrets are sealed with the field
/// cipher, bound to their row and column, and opened only to sign a delivery.
struct WebhookStore: Sendable {
    let cipher: FieldCipher
    let ids: any IDGenerator

    /// What a sealed secret is bound to (`FieldCipher` contexts); `rotate-keys` needs these too.
    static func secretContext(_ id: String) -> String { "webhook_endpoints.secret:\(id)" }
    static func previousSecretContext(_ id: String) -> String { "webhook_endpoints.previous_secret:\(id)" }

    // MARK: Endpoints

    func insert(_ endpoint: WebhookEndpoint, secret: String, on db: any SQLExecutor) async throws {
        let sealed = try cipher.seal(secret, context: Self.secretContext(endpoint.id.description))
        try await db.execute("""
            INSERT INTO webhook_endpoints (id, url, description, event_types, active, secret, previous_secret,
                previous_secret_expires_at, failing_since, disabled_reason, created_at, updated_at)
            VALUES (\(endpoint.id), \(endpoint.url), \(endpoint.description), \(try Self.encode(endpoint.eventTypes)),
                    \(endpoint.active), \(sealed), NULL, NULL, \(endpoint.failingSince), \(endpoint.disabledReason),
                    \(endpoint.createdAt), \(endpoint.updatedAt))
            """)
    }

    func find(_ id: ID<WebhookEndpoint>, on db: any SQLExecutor) async throws -> WebhookEndpoint? {
        try await db.queryFirst("SELECT * FROM webhook_endpoints WHERE id = \(id)").map(Self.decode)
    }

    /// In creation order, after `after`; up to `limit` rows.
    func list(after: String?, limit: Int, on db: any SQLExecutor) async throws -> [WebhookEndpoint] {
        let condition: SQL = after.map { "WHERE id > \($0)" } ?? ""
        return try await db.query("SELECT * FROM webhook_endpoints \(condition) ORDER BY id LIMIT \(limit)").map(Self.decode)
    }

    /// The endpoints that get new deliveries.
    func active(on db: any SQLExecutor) async throws -> [WebhookEndpoint] {
        try await db.query("SELECT * FROM webhook_endpoints WHERE active = \(true) ORDER BY id").map(Self.decode)
    }

    /// Saves what an admin may change, and the failure state that goes with it.
    func update(_ endpoint: WebhookEndpoint, on db: any SQLExecutor) async throws {
        try await db.execute("""
            UPDATE webhook_endpoints SET url = \(endpoint.url), description = \(endpoint.description),
                event_types = \(try Self.encode(endpoint.eventTypes)), active = \(endpoint.active),
                failing_since = \(endpoint.failingSince), disabled_reason = \(endpoint.disabledReason),
                updated_at = \(endpoint.updatedAt)
            WHERE id = \(endpoint.id)
            """)
    }

    /// Deletes the endpoint and its delivery log; false when there was none.
    func delete(_ id: ID<WebhookEndpoint>, on db: any SQLExecutor) async throws -> Bool {
        // Explicitly, not by the foreign key's cascade, which SQLite applies only when told to.
        try await db.execute("DELETE FROM webhook_deliveries WHERE endpoint_id = \(id)")
        return try await !db.query("DELETE FROM webhook_endpoints WHERE id = \(id) RETURNING id").isEmpty
    }

    /// Makes `secret` the signing secret; the one it replaces keeps signing until `overlapUntil`.
    /// A previous secret still in its overlap is dropped: only the two newest sign.
    func rotate(_ id: ID<WebhookEndpoint>, to secret: String, overlapUntil: Date, at now: Date, on db: any SQLExecutor) async throws {
        guard let row = try await db.queryFirst("SELECT secret FROM webhook_endpoints WHERE id = \(id)") else { return }
        let current = try cipher.open(try row.decode("secret"), context: Self.secretContext(id.description))
        let sealedPrevious = try cipher.seal(current, context: Self.previousSecretContext(id.description))
        let sealed = try cipher.seal(secret, context: Self.secretContext(id.description))
        try await db.execute("""
            UPDATE webhook_endpoints SET secret = \(sealed), previous_secret = \(sealedPrevious),
                previous_secret_expires_at = \(overlapUntil), updated_at = \(now)
            WHERE id = \(id)
            """)
    }

    /// The secrets that sign a delivery made at `now`: the current one, then the previous one
    /// while its overlap lasts.
    func signingSecrets(of id: ID<WebhookEndpoint>, at now: Date, on db: any SQLExecutor) async throws -> [String] {
        guard let row = try await db.queryFirst("""
            SELECT secret, previous_secret, previous_secret_expires_at FROM webhook_endpoints WHERE id = \(id)
            """)
        else { return [] }
        var secrets = [try cipher.open(try row.decode("secret"), context: Self.secretContext(id.description))]
        if let previous: String = try row.decode("previous_secret"), let until: Date = try row.decode("previous_secret_expires_at"),
            until > now
        {
            secrets.append(try cipher.open(previous, context: Self.previousSecretContext(id.description)))
        }
        return secrets
    }

    // MARK: Failure state

    /// Notes a failed delivery: the run of failures starts now unless one is under way. Answers
    /// when the run began, or nil when the endpoint is gone or no longer active.
    func noteFailure(_ id: ID<WebhookEndpoint>, at now: Date, on db: any SQLExecutor) async throws -> Date? {
        try await db.queryFirst("""
            UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, \(now))
            WHERE id = \(id) AND active = \(true)
            RETURNING failing_since
            """)?.decode("failing_since")
    }

    /// A success ends the run of failures.
    func clearFailure(_ id: ID<WebhookEndpoint>, on db: any SQLExecutor) async throws {
        try await db.execute("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = \(id) AND failing_since IS NOT NULL")
    }

    /// Disables an active endpoint; false when it was not active (another delivery did it first).
    func disable(_ id: ID<WebhookEndpoint>, reason: String, at now: Date, on db: any SQLExecutor) async throws -> Bool {
        try await db.queryFirst("""
            UPDATE webhook_endpoints SET active = \(false), disabled_reason = \(reason), updated_at = \(now)
            WHERE id = \(id) AND active = \(true)
            RETURNING id
            """) != nil
    }

    // MARK: Delivery log

    func record(_ delivery: WebhookDeliveryRecord, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, attempt, status_code, succeeded,
                duration_ms, error, created_at)
            VALUES (\(delivery.id), \(delivery.endpointID), \(delivery.eventID), \(delivery.eventType), \(delivery.attempt),
                    \(delivery.statusCode), \(delivery.succeeded), \(delivery.durationMS),
                    \(delivery.error.map { String($0.prefix(1000)) }), \(delivery.createdAt))
            """)
    }

    /// Newest first, before `before`; up to `limit` rows.
    func deliveries(
        of id: ID<WebhookEndpoint>, before: String?, limit: Int, on db: any SQLExecutor
    ) async throws -> [WebhookDeliveryRecord] {
        let condition: SQL = before.map { " AND id < \($0)" } ?? ""
        return try await db.query("""
            SELECT * FROM webhook_deliveries WHERE endpoint_id = \(id)\(condition) ORDER BY id DESC LIMIT \(limit)
            """).map(Self.decodeDelivery)
    }

    func delivery(
        _ id: ID<WebhookDeliveryRecord>, of endpoint: ID<WebhookEndpoint>, on db: any SQLExecutor
    ) async throws -> WebhookDeliveryRecord? {
        try await db.queryFirst("SELECT * FROM webhook_deliveries WHERE id = \(id) AND endpoint_id = \(endpoint)")
            .map(Self.decodeDelivery)
    }

    func purgeDeliveries(before cutoff: Date, batch: Int, on db: any SQLExecutor) async throws -> Int {
        try await db.query("""
            DELETE FROM webhook_deliveries WHERE id IN (
                SELECT id FROM webhook_deliveries WHERE created_at < \(cutoff) LIMIT \(batch))
            RETURNING id
            """).count
    }

    // MARK: Rows

    static func encode(_ eventTypes: [String]) throws -> String {
        String(decoding: try JSONEncoder().encode(eventTypes), as: UTF8.self)
    }

    static func decode(_ row: SQLRow) throws -> WebhookEndpoint {
        let types: String = try row.decode("event_types")
        guard let eventTypes = try? JSONDecoder().decode([String].self, from: Data(types.utf8)) else {
            throw DatabaseError.decoding(column: "event_types", expected: "a JSON array of strings", found: types)
        }
        return WebhookEndpoint(
            id: try row.decode("id"), url: try row.decode("url"), description: try row.decode("description"),
            eventTypes: eventTypes, active: try row.decode("active"), failingSince: try row.decode("failing_since"),
            disabledReason: try row.decode("disabled_reason"),
            previousSecretExpiresAt: try row.decode("previous_secret_expires_at"),
            createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
    }

    static func decodeDelivery(_ row: SQLRow) throws -> WebhookDeliveryRecord {
        WebhookDeliveryRecord(
            id: try row.decode("id"), endpointID: try row.decode("endpoint_id"), eventID: try row.decode("event_id"),
            eventType: try row.decode("event_type"), attempt: try row.decode("attempt"),
            statusCode: try row.decode("status_code"), succeeded: try row.decode("succeeded"),
            durationMS: try row.decode("duration_ms"), error: try row.decode("error"), createdAt: try row.decode("created_at"))
    }
}
