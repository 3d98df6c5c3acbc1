import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes

/// Who runs the shop: admins add staff and admin accounts and change anyone's role, for the
/// JSON routes and the back office alike. The last admin cannot be demoted, and each change
/// is audited in the transaction that makes it.
struct StaffService: Sendable {
    let database: any Database
    let accounts: AccountStore
    let hasher: PasswordHasher
    let audit: AuditLog
    let clock: any WallClock
    let ids: any IDGenerator

    struct NewMember: Sendable {
        let email: String
        let name: String
        let password: String
        let role: String
    }

    func create(_ input: NewMember, by actor: AuditLog.Actor, origin: RequestOrigin) async throws -> User {
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
                    .init(actor: actor, action: "staff.created", target: "\(user.id) as \(role.rawValue)", origin: origin), on: db)
            }
        } catch DatabaseError.uniqueViolation {
            throw Problem.emailTaken
        }
        return user
    }

    /// Gives `id` the role named `roleName`; answers the user as they now are.
    func changeRole(of id: ID<User>, to roleName: String, by actor: AuditLog.Actor, origin: RequestOrigin) async throws -> User {
        guard let role = Role(rawValue: roleName) else { throw Self.roleProblem }
        let change = try await database.transaction { db in
            let change = try await accounts.changeRole(of: id, to: role, at: clock.now(), on: db)
            if case .changed(let user, let previous) = change, previous != role {
                try await audit.record(
                    .init(actor: actor, action: "user.role_changed", target: "\(user.id): \(previous.rawValue) -> \(role.rawValue)",
                          origin: origin),
                    on: db)
            }
            return change
        }
        switch change {
        case .changed(let user, _): return user
        case .noSuchUser: throw Problem.notFound("There is no user with this id.")
        case .lastAdmin:
            throw Problem(.conflict, slug: "last-admin", title: "Last administrator",
                          detail: "This is the only administrator; make someone else an admin first.")
        }
    }

    static let roleProblem = Problem.validation([
        .init(pointer: "/role", detail: "must be one of " + Role.allCases.map(\.rawValue).joined(separator: ", "))
    ])
}
