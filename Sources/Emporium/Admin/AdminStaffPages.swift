import EmporiumCore
import EmporiumStorage
import Foundation
import Hummingbird

/// `/admin/staff` and `/admin/api-keys`, for admins only as their JSON routes are: who runs
/// the shop, and the API keys other systems use, which an admin issues (the secret is shown
/// once) and revokes through the same `APIKeyService` as `/v1/admin/api-keys`.
enum AdminStaffPages: AdminSection {
    static let templates: [String: [UInt8]] = [
        "staff": PackageResources.admin_staff_mustache, "api_key_created": PackageResources.admin_api_key_created_mustache,
        "scope_fieldset": PackageResources.admin_scope_fieldset_mustache,
    ]

    static func register(on routes: AdminRoutes, services: BackOfficeServices) {
        routes.page("/admin/staff", access: .role(.admin), menu: .init(label: "Staff & keys", order: 90)) { request, context in
            let page = try PageRequest(request)
            let members = try await services.accountStore.list(staff: true, after: page.after, limit: page.limit + 1, on: services.database)
            let shown = members.prefix(page.limit)
            var values: [String: Any] = [
                "members": shown.map { member -> [String: Any] in
                    [
                        "id": member.id.description, "name": member.name, "email": member.email, "role": member.role.rawValue,
                        "roles": Role.allCases.map { ["role": $0.rawValue, "selected": $0 == member.role] },
                        "is_you": member.id == context.member.id,
                    ]
                },
                "keys": try await services.apiKeys.keys(after: nil, limit: PageRequest.maximumLimit).map { key -> [String: Any] in
                    var values: [String: Any] = [
                        "id": key.id.description, "name": key.name, "prefix": key.prefix,
                        "scopes": key.scopes.sorted().map(\.rawValue).joined(separator: ", "),
                        "created": Timestamp.string(from: key.createdAt),
                        "expires": key.expiresAt.map(Timestamp.string) ?? "never",
                    ]
                    // Only when revoked: Mustache shows a section for any string, even an empty one.
                    if let revoked = key.revokedAt { values["revoked"] = Timestamp.string(from: revoked) }
                    return values
                },
            ]
            values.merge(scopeFieldset(idPrefix: "key")) { $1 }
            if members.count > page.limit, let last = shown.last {
                values["next"] = "/admin/staff?cursor=" + PageRequest.encode(last.id.description)
            }
            return context.render("staff", title: "Staff and API keys", values)
        }
        routes.action("/admin/staff", access: .role(.admin), returnTo: { _, _ in "/admin/staff" }) { _, context, form in
            let member = try await services.staff.create(
                .init(email: form["email"] ?? "", name: form["name"] ?? "", password: form["password"] ?? "", role: form["role"] ?? ""),
                by: context.actor, origin: context.origin)
            return try await context.redirect(
                to: "/admin/staff", notice: "\(member.name) <\(member.email)> can sign in as \(member.role.rawValue).")
        }
        routes.action("/admin/staff/:id/role", access: .role(.admin), returnTo: { _, _ in "/admin/staff" }) { _, context, form in
            try context.requireConfirmation(form)
            let id: ID<User> = try context.base.pathID(notFound: "There is no user with this id.")
            let member = try await services.staff.changeRole(of: id, to: form["role"] ?? "", by: context.actor, origin: context.origin)
            return try await context.redirect(to: "/admin/staff", notice: "\(member.name) is now \(member.role.rawValue).")
        }
        routes.action("/admin/api-keys", access: .role(.admin), returnTo: { _, _ in "/admin/staff" }) { _, context, form in
            let expiry = try form["expires_on"].map(expiryTime)
            let issued: (APIKey, String)
            do {
                issued = try await services.apiKeys.issue(
                    .init(name: form["name"] ?? "", scopes: Scope.allCases.filter { form[scopeField($0)] != nil }.map(\.rawValue),
                          expiresAt: expiry),
                    by: context.member, origin: context.origin)
            } catch let problem as Problem {
                throw pointingAtTheForm(problem)
            }
            let (key, secret) = issued
            // As with a webhook's secret: shown on this answer only.
            return context.renderSecret(
                "api_key_created", title: "API key issued",
                ["name": key.name, "prefix": key.prefix, "scopes": key.scopes.sorted().map(\.rawValue).joined(separator: ", "),
                 "expires": key.expiresAt.map(Timestamp.string) ?? "never", "secret": secret])
        }
        routes.action("/admin/api-keys/:id/revoke", access: .role(.admin), returnTo: { _, _ in "/admin/staff" }) { _, context, form in
            try context.requireConfirmation(form)
            let id: ID<APIKey> = try context.base.pathID(notFound: "There is no API key with this id.")
            let key = try await services.apiKeys.revoke(id, by: context.member, origin: context.origin)
            return try await context.redirect(to: "/admin/staff", notice: "The key \(key.name) (\(key.prefix)…) is revoked.")
        }
    }

    /// The form's checkbox for a scope: one field each, since a form field sent twice is refused.
    static func scopeField(_ scope: Scope) -> String { "scope_" + scope.rawValue.replacingOccurrences(of: ":", with: "_") }

    /// What the `scope_fieldset` partial reads, for the key form here and the app form of
    /// `OAuthAppPages`: a checkbox per scope, with ids starting `idPrefix` so that each form's
    /// labels stay tied to its own boxes.
    static func scopeFieldset(idPrefix: String) -> [String: Any] {
        ["scopes": Scope.allCases.map { ["scope": $0.rawValue, "field": scopeField($0)] }, "scope_id_prefix": idPrefix]
    }

    /// `problem` as the form's: the service names a key's expiry `/expires_at` and asks for a
    /// time, as the JSON API does, but the admin filled in a day in `expires_on`.
    static func pointingAtTheForm(_ problem: Problem) -> Problem {
        var problem = problem
        problem.errors = problem.errors.map { field in
            guard field.pointer == "/expires_at" else { return field }
            var moved = field
            moved.pointer = "/expires_on"
            moved.detail = "must be today or later"
            return moved
        }
        return problem
    }

    /// A date input's `YYYY-MM-DD` as the end of that day in UTC: a key that "expires on" a
    /// day works through it.
    static func expiryTime(_ day: String) throws -> String {
        guard day.utf8.count == 10, let start = Timestamp.date(from: day + "T00:00:00Z") else {
            throw Problem.validation([.init(pointer: "/expires_on", detail: "must be a date, YYYY-MM-DD")])
        }
        return Timestamp.string(from: start.addingTimeInterval(86_400))
    }
}
