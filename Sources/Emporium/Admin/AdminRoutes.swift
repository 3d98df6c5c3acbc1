import EmporiumCore
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// Adds back-office routes: each one finds the session behind the cookie, checks the
/// member's access (and on POST the form's CSRF token) before its handler runs, and turns
/// problems into pages. See `BackOffice` for how a page is written.
struct AdminRoutes {
    let registrar: RouteRegistrar
    let sessions: AdminSessions
    let pages: AdminPages
    let cookie: AdminCookie
    let menu: AdminMenu

    typealias PageHandler = @Sendable (Request, AdminContext) async throws -> Response
    typealias ActionHandler = @Sendable (Request, AdminContext, OAuthForm) async throws -> Response

    /// A page (GET) for members whom `access` lets in; `menu` links it from the navigation.
    func page(_ path: String, access: Access, menu item: AdminMenu.Entry? = nil, use handler: @escaping PageHandler) {
        if let item { menu.add(.init(entry: item, path: path, access: access)) }
        let kit = kit
        registrar.on(.get, path, access: access) { request, base in
            guard let context = try await kit.context(request, base) else { return kit.signInRedirect(request) }
            guard context.may(access) else { return context.refuse() }
            do {
                return try await handler(request, context)
            } catch let problem as Problem {
                return context.errorPage(problem)
            }
        }
    }

    /// A form's target (POST): refused without the session's CSRF token; a problem the handler
    /// throws becomes an error message on the `returnTo` page, or the error page.
    func action(
        _ path: String, access: Access, returnTo: (@Sendable (Request, AdminContext) -> String)? = nil,
        use handler: @escaping ActionHandler
    ) {
        let kit = kit
        registrar.on(.post, path, access: access) { request, base in
            guard let context = try await kit.context(request, base) else { return kit.signInRedirect(request) }
            let form: OAuthForm
            do {
                form = try await Self.form(of: request, context: base)
            } catch let problem as Problem {
                return context.errorPage(problem)  // a malformed or oversized form, as a page
            }
            guard let sent = form["csrf_token"], SecretToken.matches(sent, digest: SecretToken.digest(context.session.csrfToken))
            else {
                try await kit.sessions.audit.record(
                    .init(actor: context.actor, action: "admin.csrf_refused", target: request.uri.path, origin: context.origin),
                    on: kit.sessions.database)
                return context.errorPage(.forbiddenForm)
            }
            guard context.may(access) else { return context.refuse() }
            do {
                return try await handler(request, context, form)
            } catch let problem as Problem {
                guard let returnTo else { return context.errorPage(problem) }
                return try await context.redirect(to: returnTo(request, context), error: problem.pageMessage)
            }
        }
    }

    /// A form as browsers send it: URL-encoded, or multipart when it carries a file.
    static func form(of request: Request, context: AppRequestContext) async throws -> OAuthForm {
        guard let boundary = request.headers[.contentType].flatMap(MultipartForm.boundary) else {
            return try await OAuthForm.body(of: request, context: context)
        }
        var request = request
        let body = try await request.collectBody(upTo: context.bodyLimit)
        return try MultipartForm.fields(of: Array(buffer: body), boundary: boundary)
    }

    /// What every handler closure holds: no router, only what a request needs.
    var kit: AdminKit { AdminKit(sessions: sessions, pages: pages, cookie: cookie, menu: menu) }
}

/// The part of `AdminRoutes` that requests use.
struct AdminKit: Sendable {
    let sessions: AdminSessions
    let pages: AdminPages
    let cookie: AdminCookie
    let menu: AdminMenu

    /// The signed-in member's context, or nil when the cookie opens no live session.
    func context(_ request: Request, _ base: AppRequestContext) async throws -> AdminContext? {
        guard let token = cookie.value(of: cookie.sessionName(request, context: base), in: request),
            let (session, member) = try await sessions.resolve(token: token)
        else { return nil }
        // A message left by the last POST is shown once, on this page.
        if session.flash != nil, request.method == .get { try await sessions.leave(nil, for: session) }
        return AdminContext(base: base, member: member, session: session, kit: self, path: request.uri.path)
    }

    /// To the sign-in page, coming back here afterwards (GET only; a form is not resent).
    func signInRedirect(_ request: Request) -> Response {
        let back = request.method == .get ? request.uri.path : "/admin"
        return AdminPages.redirect(to: "/admin/sign-in?next=" + (back.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
    }
}

/// Links of the navigation, in `order`, each shown to members its access lets in.
final class AdminMenu: Sendable {
    struct Entry: Sendable {
        let label: String
        /// Smaller first.
        let order: Int
    }

    struct Item: Sendable {
        let entry: Entry
        let path: String
        let access: Access
    }

    private let items = Mutex<[Item]>([])

    func add(_ item: Item) {
        items.withLock { $0.append(item); $0.sort { ($0.entry.order, $0.path) < ($1.entry.order, $1.path) } }
    }

    var all: [Item] { items.withLock { $0 } }
}

extension Problem {
    /// A POST without the session's form token.
    static let forbiddenForm = Problem(
        .forbidden, slug: "forbidden", title: "Form refused",
        detail: "This form is out of date or was not sent from this back office. Reload the page and try again.")

    /// The problem as one line on a page: its detail and each field's complaint.
    var pageMessage: String {
        ([detail ?? title] + errors.map { error in
            let field = (error.pointer.map { String($0.dropFirst()) } ?? error.parameter).map { "\($0): " } ?? ""
            return field + error.detail
        }).joined(separator: " ")
    }
}
