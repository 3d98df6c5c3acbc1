import EmporiumCore
import EmporiumStorage
import Foundation

/// Who did what to what, from where, under which request: an append-only table. Details
/// never hold secrets or passwords.
struct AuditLog: Sendable {
    let clock: any WallClock
    let ids: any IDGenerator

    /// Who acted: a person, or another system through an API key. The command line acts as
    /// nobody.
    enum Actor: Sendable {
        case user(ID<User>)
        case apiKey(ID<APIKey>)

        var id: String {
            switch self {
            case .user(let id): id.description
            case .apiKey(let id): id.description
            }
        }

        var type: String {
            switch self {
            case .user: "user"
            case .apiKey: "api_key"
            }
        }
    }

    struct Entry {
        var actor: Actor?
        var action: String
        var target: String?
        var clientAddress: String?
        var requestID: String?

        init(actor: Actor?, action: String, target: String? = nil, origin: RequestOrigin?) {
            self.actor = actor
            self.action = action
            self.target = target
            clientAddress = origin?.clientAddress
            requestID = origin?.requestID
        }

        init(actor: ID<User>?, action: String, target: String? = nil, clientAddress: String? = nil, requestID: String? = nil) {
            self.actor = actor.map(Actor.user)
            self.action = action
            self.target = target
            self.clientAddress = clientAddress
            self.requestID = requestID
        }
    }

    func record(_ entry: Entry, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO audit_log (id, occurred_at, actor_id, actor_type, action, target, client_address, request_id)
            VALUES (\(ids.makeUUID().uuidString.lowercased()), \(clock.now()), \(entry.actor?.id), \(entry.actor?.type),
                    \(entry.action), \(entry.target), \(entry.clientAddress), \(entry.requestID))
            """)
    }
}
