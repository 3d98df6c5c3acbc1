import EmporiumCore
import EmporiumStorage
import Foundation

/// Who did what to what, from where, under which request: an append-only table. Details
/// never hold secrets or passwords.
///
/// Each entry is chained to the one before (`AuditChain`): it carries its place in the chain and
/// the SHA-256 of its content and of the previous entry's hash, so that `emporium audit verify`
/// finds an entry that was changed or removed afterwards.
struct AuditLog: Sendable {
    let clock: any WallClock
    let ids: any IDGenerator

    /// Who acted: a person, or another system through an API key. The command line acts as
    /// nobody.
    enum Actor: Sendable {
        case user(ID<User>)
        case apiKey(ID<APIKey>)
        case app(ID<OAuthApp>)

        var id: String {
            switch self {
            case .user(let id): id.description
            case .apiKey(let id): id.description
            case .app(let id): id.description
            }
        }

        var type: String {
            switch self {
            case .user: "user"
            case .apiKey: "api_key"
            case .app: "app"
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
        // The chain's head is read and moved in one transaction, or two writers would fork it.
        if let database = db as? any Database {
            try await database.transaction { try await record(entry, on: $0) }
            return
        }
        let head = try await AuditChain.lockHead(on: db)
        let content = AuditChain.Content(
            id: ids.makeUUID().lowercasedString, occurredAt: Timestamp.string(from: clock.now()),
            actorID: entry.actor?.id, actorType: entry.actor?.type, action: entry.action, target: entry.target,
            clientAddress: entry.clientAddress, requestID: entry.requestID)
        let link = head.next(content)
        try await db.execute("""
            INSERT INTO audit_log (id, occurred_at, actor_id, actor_type, action, target, client_address, request_id,
                                   chain_sequence, previous_hash, entry_hash)
            VALUES (\(content.id), \(content.occurredAt), \(content.actorID), \(content.actorType), \(content.action),
                    \(content.target), \(content.clientAddress), \(content.requestID),
                    \(link.sequence), \(head.hash), \(link.hash))
            """)
        try await AuditChain.moveHead(to: link, on: db)
    }

    /// Which entries the audit log page shows; newest first.
    struct Filter: Sendable {
        var actor: ID<User>?
        var action: String?
        var from: Date?
        var to: Date?
        /// The entry id a page continues below.
        var before: String?
        var limit: Int
    }

    /// An entry as the log holds it, which is also how the admin API shows it.
    struct Recorded: Codable, Sendable {
        let id: String
        let occurredAt: String
        let actorID: String?
        let actorType: String?
        let action: String
        let target: String?
        let clientAddress: String?
        let requestID: String?

        enum CodingKeys: String, CodingKey {
            case id, action, target
            case occurredAt = "occurred_at"
            case actorID = "actor_id"
            case actorType = "actor_type"
            case clientAddress = "client_address"
            case requestID = "request_id"
        }
    }

    /// Up to `limit + 1` entries, as `Page` expects.
    func entries(_ filter: Filter, on db: any SQLExecutor) async throws -> [Recorded] {
        var conditions: [SQL] = []
        if let before = filter.before { conditions.append("id < \(before)") }
        if let actor = filter.actor { conditions.append("actor_id = \(actor)") }
        if let action = filter.action { conditions.append("action = \(action)") }
        if let from = filter.from { conditions.append("occurred_at >= \(Timestamp.string(from: from))") }
        if let to = filter.to { conditions.append("occurred_at < \(Timestamp.string(from: to))") }
        let clause: SQL = conditions.isEmpty ? "" : "WHERE " + SQL.joined(conditions, separator: " AND ")
        return try await db.query("SELECT * FROM audit_log \(clause) ORDER BY id DESC LIMIT \(filter.limit + 1)").map { row in
            Recorded(
                id: try row.decode("id"), occurredAt: try row.decode("occurred_at"), actorID: try row.decode("actor_id"),
                actorType: try row.decode("actor_type"), action: try row.decode("action"), target: try row.decode("target"),
                clientAddress: try row.decode("client_address"), requestID: try row.decode("request_id"))
        }
    }
}
