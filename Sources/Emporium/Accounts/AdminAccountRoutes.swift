import EmporiumCore
import EmporiumStorage
import Foundation
import Hummingbird

/// `/v1/admin/customers`, `/v1/admin/staff`, `/v1/admin/users/{id}/role` and
/// `/v1/admin/audit-log`.
struct AdminAccountRoutes {
    let database: any Database
    let accounts: AccountStore
    let audit: AuditLog
    let staff: StaffService

    struct StaffInput: Decodable {
        let email: String
        let name: String
        let password: String
        let role: String
    }

    struct RoleInput: Decodable {
        let role: String
    }

    func register(on routes: RouteRegistrar) {
        routes.on(.get, "/v1/admin/customers", access: .staff, orScope: .customersRead) { request, _ in
            let page = try PageRequest(request)
            let email = request.uri.queryParameters["email"].map { AccountRules.normalizedEmail(String($0)) }
            let users = try await accounts.list(staff: false, email: email, after: page.after, limit: page.limit + 1, on: database)
            return Page(users.map(UserResponse.init), limit: page.limit, id: \.id)
        }

        routes.on(.get, "/v1/admin/staff", access: .admin) { request, _ in
            let page = try PageRequest(request)
            let users = try await accounts.list(staff: true, after: page.after, limit: page.limit + 1, on: database)
            return Page(users.map(UserResponse.init), limit: page.limit, id: \.id)
        }

        routes.on(.post, "/v1/admin/staff", access: .admin) { request, context in
            let input = try await request.decodeJSON(as: StaffInput.self, context: context.base)
            let user = try await staff.create(
                .init(email: input.email, name: input.name, password: input.password, role: input.role),
                by: context.actor, origin: context.origin)
            return EditedResponse(status: .created, response: EncodableUser(UserResponse(user)))
        }

        routes.on(.put, "/v1/admin/users/:id/role", access: .admin) { request, context in
            let id: ID<User> = try context.base.pathID(notFound: "There is no user with this id.")
            let input = try await request.decodeJSON(as: RoleInput.self, context: context.base)
            return EncodableUser(UserResponse(try await staff.changeRole(of: id, to: input.role, by: context.actor, origin: context.origin)))
        }

        routes.on(.get, "/v1/admin/audit-log", access: .admin) { request, _ in
            let page = try PageRequest(request)
            let query = request.uri.queryParameters
            // Newest first: the cursor continues below the last id shown.
            var filter = AuditLog.Filter(before: page.after, limit: page.limit)
            var errors: [Problem.FieldError] = []
            if let actor = query["actor"] {
                if let id = ID<User>(String(actor)) {
                    filter.actor = id
                } else {
                    errors.append(.init(parameter: "actor", detail: "must be a user id"))
                }
            }
            filter.action = query["action"].map(String.init)
            for name in ["from", "to"] as [Substring] {
                guard let text = query[name] else { continue }
                if let date = Timestamp.date(from: String(text)) {
                    if name == "from" { filter.from = date } else { filter.to = date }
                } else {
                    errors.append(.init(parameter: String(name), detail: "must be an RFC 3339 time"))
                }
            }
            guard errors.isEmpty else { throw Problem.validation(errors, detail: "The query has invalid parameters.") }
            return Page(try await audit.entries(filter, on: database), limit: page.limit, id: \.id)
        }
    }
}
