import EmporiumCore
import Foundation
import Hummingbird

/// `/admin/apps`: the third-party apps admins register for OAuth, with the same rules and the
/// same `OAuthService` as `/v1/admin/apps`. A confidential app's client secret is shown once;
/// deleting an app ends every grant and token it holds.
enum OAuthAppPages: AdminSection {
    static let templates: [String: [UInt8]] = [
        "apps": PackageResources.admin_apps_mustache, "app_created": PackageResources.admin_app_created_mustache,
        "scope_fieldset": PackageResources.admin_scope_fieldset_mustache,
    ]

    static func register(on routes: AdminRoutes, services: BackOfficeServices) {
        routes.page("/admin/apps", access: .role(.admin), menu: .init(label: "Apps", order: 80)) { request, context in
            let page = try PageRequest(request)
            let apps = try await services.apps.apps(after: page.after, limit: page.limit + 1)
            let shown = apps.prefix(page.limit)
            var values: [String: Any] = ["apps": shown.map(view), "maximum_redirects": OAuthAppRoutes.maxRedirectURIs]
            values.merge(AdminStaffPages.scopeFieldset(idPrefix: "app")) { $1 }
            if apps.count > page.limit, let last = shown.last {
                values["next"] = "/admin/apps?cursor=" + PageRequest.encode(last.id.description)
            }
            return context.render("apps", title: "Apps", values)
        }
        routes.action("/admin/apps", access: .role(.admin), returnTo: { _, _ in "/admin/apps" }) { _, context, form in
            let input = OAuthAppRoutes.CreateInput(
                name: form["name"] ?? "", clientType: form["client_type"] ?? "",
                redirectURIs: (form["redirect_uris"] ?? "").split(whereSeparator: \.isWhitespace).map(String.init),
                scopes: Scope.allCases.filter { form[AdminStaffPages.scopeField($0)] != nil }.map(\.rawValue),
                grantTypes: OAuthApp.GrantType.allCases.filter { form["grant_" + $0.rawValue] != nil }.map(\.rawValue))
            let (app, secret) = try await services.apps.register(
                try OAuthAppRoutes.validated(input), by: context.member, origin: context.origin)
            var values = view(app)
            if let secret { values["secret"] = secret }
            // The secret is on this answer only, as with API keys and webhook secrets; a public
            // app's answer has none but goes the same way.
            return context.renderSecret("app_created", title: "App registered", ["app": values])
        }
        routes.action("/admin/apps/:id/delete", access: .role(.admin), returnTo: { _, _ in "/admin/apps" }) { _, context, form in
            try context.requireConfirmation(form)
            let id: ID<OAuthApp> = try context.base.pathID(notFound: "There is no app with this id.")
            try await services.apps.delete(id, by: context.member, origin: context.origin)
            return try await context.redirect(to: "/admin/apps", notice: "The app is deleted; its grants and tokens no longer work.")
        }
    }

    static func view(_ app: OAuthApp) -> [String: Any] {
        [
            "id": app.id.description, "name": app.name, "client_type": app.clientType.rawValue,
            "redirect_uris": app.redirectURIs, "scopes": app.scopes.sorted().map(\.rawValue).joined(separator: ", "),
            "grant_types": app.grantTypes.sorted().map(\.rawValue).joined(separator: ", "),
            "created": Timestamp.string(from: app.createdAt),
        ]
    }
}
