import EmporiumCore
import EmporiumStorage
import Foundation
import Hummingbird

/// `/v1/admin/customers` and `/v1/admin/audit-log`.
struct AdminAccountRoutes {
    let database: any Database
    let accounts: AccountStore

    struct AuditEntryResponse: Codable, Sendable {
        let id: String
        let occurredAt: String
        let actorID: String?
        let action: String
        let target: String?
        let clientAddress: String?
        let requestID: String?

        enum CodingKeys: String, CodingKey {
            case id, action, target
            case occurredAt = "occurred_at"
            case actorID = "actor_id"
            case clientAddress = "client_address"
            case requestID = "request_id"
        }
    }

    func register(on routes: RouteRegistrar) {
        routes.on(.get, "/v1/admin/customers", access: .staff) { request, _ in
            let page = try PageRequest(request)
            let email = request.uri.queryParameters["email"].map { AccountRules.normalizedEmail(String($0)) }
            var conditions: [SQL] = ["role = 'customer'"]
            if let after = page.after { conditions.append("id > \(after)") }
            if let email { conditions.append("email = \(email)") }
            let users = try await accounts.list(
                where: SQL.joined(conditions, separator: " AND "), limit: page.limit + 1, on: database)
            return Page(users.map(UserResponse.init), limit: page.limit, id: \.id)
        }

        routes.on(.get, "/v1/admin/audit-log", access: .admin) { request, _ in
            let page = try PageRequest(request)
            let query = request.uri.queryParameters
            var conditions: [SQL] = []
            var errors: [Problem.FieldError] = []
            // Newest first: the cursor continues below the last id shown.
            if let after = page.after { conditions.append("id < \(after)") }
            if let actor = query["actor"] {
                if let id = ID<User>(String(actor)) {
                    conditions.append("actor_id = \(id)")
                } else {
                    errors.append(.init(parameter: "actor", detail: "must be a user id"))
                }
            }
            if let action = query["action"] { conditions.append("action = \(String(action))") }
            for (name, comparison) in [("from", ">="), ("to", "<")] as [(Substring, String)] {
                guard let text = query[name] else { continue }
                if let date = Timestamp.date(from: String(text)) {
                    conditions.append("occurred_at \(unsafeRaw: comparison) \(Timestamp.string(from: date))")
                } else {
                    errors.append(.init(parameter: String(name), detail: "must be an RFC 3339 time"))
                }
            }
            guard errors.isEmpty else { throw Problem.validation(errors, detail: "The query has invalid parameters.") }
            let filter: SQL = conditions.isEmpty ? "" : "WHERE " + SQL.joined(conditions, separator: " AND ")
            let rows = try await database.query("""
                SELECT * FROM audit_log \(filter) ORDER BY id DESC LIMIT \(page.limit + 1)
                """)
            let entries = try rows.map { row in
                AuditEntryResponse(
                    id: try row.decode("id"), occurredAt: try row.decode("occurred_at"), actorID: try row.decode("actor_id"),
                    action: try row.decode("action"), target: try row.decode("target"),
                    clientAddress: try row.decode("client_address"), requestID: try row.decode("request_id"))
            }
            return Page(entries, limit: page.limit, id: \.id)
        }
    }
}
