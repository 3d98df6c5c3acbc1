import EmporiumCore
import EmporiumStorage
import Foundation
import Hummingbird

/// `/admin/staff` and `/admin/api-keys`, for admins only as their JSON routes are: who runs
/// the shop, and the API keys other systems use, which an admin may revoke. Keys are issued
/// through `POST /v1/admin/api-keys` (its rules and its one-time secret live in `APIKeyRoutes`).
enum AdminStaffPages: AdminSection {
    static let templates: [String: [UInt8]] = ["staff": PackageResources.admin_staff_mustache]

    static func register(on routes: AdminRoutes, services: BackOfficeServices) {
        let keys = APIKeyStore()
        routes.page("/admin/staff", access: .role(.admin), menu: .init(label: "Staff & keys", order: 90)) { request, context in
            let page = try PageRequest(request)
            let members = try await services.accountStore.list(staff: true, after: page.after, limit: page.limit + 1, on: services.database)
            let shown = members.prefix(page.limit)
            var values: [String: Any] = [
                "members": shown.map { ["name": $0.name, "email": $0.email, "role": $0.role.rawValue] },
                "keys": try await keys.list(after: nil, limit: PageRequest.maximumLimit, on: services.database).map { key -> [String: Any] in
                    [
                        "id": key.id.description, "name": key.name, "prefix": key.prefix,
                        "scopes": key.scopes.sorted().map(\.rawValue).joined(separator: ", "),
                        "created": Timestamp.string(from: key.createdAt),
                        "expires": key.expiresAt.map(Timestamp.string) ?? "never",
                        "revoked": key.revokedAt.map(Timestamp.string) ?? "",
                    ]
                },
            ]
            if members.count > page.limit, let last = shown.last {
                values["next"] = "/admin/staff?cursor=" + PageRequest.encode(last.id.description)
            }
            return context.render("staff", title: "Staff and API keys", values)
        }
        routes.action("/admin/api-keys/:id/revoke", access: .role(.admin), returnTo: { _, _ in "/admin/staff" }) { _, context, form in
            try context.requireConfirmation(form)
            let id: ID<APIKey> = try context.base.pathID(notFound: "There is no API key with this id.")
            // As DELETE /v1/admin/api-keys/{id}: the store marks it revoked, the audit log says who.
            let key = try await services.database.transaction { db -> APIKey in
                guard let key = try await keys.revoke(id, at: services.clock.now(), on: db) else {
                    throw Problem.notFound("There is no API key with this id.")
                }
                try await services.audit.record(
                    .init(actor: context.actor, action: "api_key.revoked", target: key.id.description, origin: context.origin), on: db)
                return key
            }
            return try await context.redirect(to: "/admin/staff", notice: "The key \(key.name) (\(key.prefix)…) is revoked.")
        }
    }
}
