import EmporiumCore
import EmporiumStorage
import Foundation

/// Who did what to what, from where, under which request: an append-only table. Details
/// never hold secrets or passwords.
struct AuditLog: Sendable {
    let clock: any WallClock
    let ids: any IDGenerator

    struct Entry {
        var actor: ID<User>?
        var action: String
        var target: String?
        var clientAddress: String?
        var requestID: String?
    }

    func record(_ entry: Entry, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO audit_log (id, occurred_at, actor_id, action, target, client_address, request_id)
            VALUES (\(ids.makeUUID().uuidString.lowercased()), \(clock.now()), \(entry.actor), \(entry.action),
                    \(entry.target), \(entry.clientAddress), \(entry.requestID))
            """)
    }
}
