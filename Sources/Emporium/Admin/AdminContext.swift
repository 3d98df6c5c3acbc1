import EmporiumCore
import Foundation
import HTTPTypes
import Hummingbird

/// A back-office request from a signed-in member: the member is never nil, so no handler
/// checks for one.
struct AdminContext: Sendable {
    let base: AppRequestContext
    /// The member as they are now (role changes apply at once).
    let member: User
    let session: AdminSession
    let kit: AdminKit
    /// The request's path, for the navigation's current link.
    let path: String

    var origin: RequestOrigin { RequestOrigin(clientAddress: base.clientAddress, requestID: base.requestID) }
    var actor: AuditLog.Actor { .user(member.id) }
    var parameters: Parameters { base.parameters }

    /// Whether the member may do what `access` guards: the API's rule for people, where each
    /// role includes the ones before it and staff hold every scope.
    func may(_ access: Access) -> Bool {
        switch access {
        case .anonymous: true
        case .role(let role), .roleOrScope(let role, _): member.role >= role
        }
    }

    /// `template` inside the layout, with `csrf_token` added to `values`.
    func render(_ template: String, title: String, _ values: [String: Any] = [:], status: HTTPResponse.Status = .ok) -> Response {
        var values = values
        values["csrf_token"] = session.csrfToken
        let body = kit.pages.render(template, values)
        return AdminPages.html(layout(title: title, body: body), status: status)
    }

    /// The page that shows a secret once (a webhook's signing secret, an API key, an app's
    /// client secret): `201 Created`, answered at once rather than after a redirect so that the
    /// secret is never kept in the session, and `no-store` so that the browser keeps no copy.
    func renderSecret(_ template: String, title: String, _ values: [String: Any]) -> Response {
        var response = render(template, title: title, values, status: .created)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// 303 to `location`, which shows `notice` once.
    func redirect(to location: String, notice: String) async throws -> Response {
        try await kit.sessions.leave(AdminFlash(kind: .notice, text: notice), for: session)
        return AdminPages.redirect(to: location)
    }

    /// 303 to `location`, which shows `error` once.
    func redirect(to location: String, error: String) async throws -> Response {
        try await kit.sessions.leave(AdminFlash(kind: .error, text: error), for: session)
        return AdminPages.redirect(to: location)
    }

    /// Throws unless the form's "confirm" box was ticked.
    func requireConfirmation(_ form: OAuthForm) throws {
        guard form["confirm"] == "yes" else {
            throw Problem(
                .unprocessableContent, slug: "validation", title: "Not confirmed",
                detail: "Tick the box to confirm; nothing was changed.")
        }
    }

    /// The page for a member whose role does not allow this.
    func refuse() -> Response {
        errorPage(Problem(.forbidden, slug: "forbidden", title: "Not allowed", detail: "Your role does not allow this page or action."))
    }

    func errorPage(_ problem: Problem) -> Response {
        render("error", title: problem.title, ["title": problem.title, "message": problem.pageMessage], status: problem.status)
    }

    private func layout(title: String, body: String) -> String {
        let links = kit.menu.all.filter { may($0.access) }.map { item -> [String: Any] in
            let current = path == item.path || (item.path != "/admin" && path.hasPrefix(item.path + "/"))
            return ["label": item.entry.label, "href": item.path, "current": current]
        }
        var values: [String: Any] = [
            "title": title, "body": body, "csrf_token": session.csrfToken, "links": links,
            "member": ["name": member.name, "email": member.email, "role": member.role.rawValue],
        ]
        if let flash = session.flash {
            values["flash"] = ["text": flash.text, "error": flash.kind == .error]
        }
        return kit.pages.render("layout", values)
    }
}
