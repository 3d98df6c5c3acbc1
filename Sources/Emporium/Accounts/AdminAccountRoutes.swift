import EmporiumCore
import EmporiumStorage
import Foundation
import Hummingbird

/// `/v1/admin/customers`, `/v1/admin/staff`, `/v1/admin/users/{id}/role` and
/// `/v1/admin/audit-log`.
struct AdminAccountRoutes {
    let database: any Database
    let accounts: AccountStore
    let hasher: PasswordHasher
    let audit: AuditLog
    let clock: any WallClock
    let ids: any IDGenerator

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
            return EditedResponse(status: .created, response: EncodableUser(UserResponse(try await createStaff(input, by: context))))
        }

        routes.on(.put, "/v1/admin/users/:id/role", access: .admin) { request, context in
            let id: ID<User> = try context.base.pathID(notFound: "There is no user with this id.")
            let input = try await request.decodeJSON(as: RoleInput.self, context: context.base)
            guard let role = Role(rawValue: input.role) else { throw Self.roleProblem }
            let change = try await database.transaction { db in
                let change = try await accounts.changeRole(of: id, to: role, at: clock.now(), on: db)
                if case .changed(let user, let previous) = change, previous != role {
                    try await audit.record(
                        .init(actor: context.actor, action: "user.role_changed",
                              target: "\(user.id): \(previous.rawValue) -> \(role.rawValue)", origin: context.origin),
                        on: db)
                }
                return change
            }
            switch change {
            case .changed(let user, _): return EncodableUser(UserResponse(user))
            case .noSuchUser: throw Problem.notFound("There is no user with this id.")
            case .lastAdmin:
                throw Problem(.conflict, slug: "last-admin", title: "Last administrator",
                              detail: "This is the only administrator; make someone else an admin first.")
            }
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

    static let roleProblem = Problem.validation([
        .init(pointer: "/role", detail: "must be one of " + Role.allCases.map(\.rawValue).joined(separator: ", "))
    ])

    private func createStaff(_ input: StaffInput, by context: AuthenticatedContext) async throws -> User {
        let email = AccountRules.normalizedEmail(input.email)
        let name = input.name.trimmingCharacters(in: .whitespacesAndNewlines)
        var errors = AccountRules.problems(email: email, password: input.password, name: name)
        let role = Role(rawValue: input.role)
        if role == nil || role == .customer {
            errors.append(.init(pointer: "/role", detail: "must be staff or admin"))
        }
        guard let role, errors.isEmpty else { throw Problem.validation(errors) }
        let passwordHash = try await hasher.hash(input.password)
        let now = clock.now()
        let user = User(id: ids.make(), email: email, name: name, role: role, createdAt: now, updatedAt: now)
        do {
            try await database.transaction { db in
                try await accounts.insert(user, passwordHash: passwordHash, on: db)
                try await audit.record(
                    .init(actor: context.actor, action: "staff.created", target: "\(user.id) as \(role.rawValue)",
                          origin: context.origin),
                    on: db)
            }
        } catch DatabaseError.uniqueViolation {
            throw Problem.emailTaken
        }
        return user
    }
}
