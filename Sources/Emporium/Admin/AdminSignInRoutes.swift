import EmporiumCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `/admin/sign-in`, `/admin/sign-out`, `/admin/sign-out-everywhere` and the style sheet.
enum AdminSignInRoutes {
    static func register(on routes: AdminRoutes) {
        let kit = routes.kit
        routes.registrar.on(.get, "/admin/sign-in", access: .anonymous) { request, base in
            if try await kit.context(request, base) != nil { return AdminPages.redirect(to: next(request.uri.queryParameters["next"])) }
            let query = request.uri.queryParameters
            return signInPage(
                kit, request, base, next: query["next"].map(String.init),
                notice: query["signed_out"] != nil ? "You are signed out." : nil)
        }
        routes.registrar.on(.post, "/admin/sign-in", access: .anonymous) { request, base in
            let form = try await OAuthForm.body(of: request, context: base)
            // The form's token must be the one this browser's sign-in cookie holds: another
            // site's page cannot read it, nor make the browser send the cookie (SameSite=Strict).
            guard let sent = form["form_token"],
                let expected = kit.cookie.value(of: kit.cookie.signInName(request, context: base), in: request),
                SecretToken.matches(sent, digest: SecretToken.digest(expected))
            else {
                return signInPage(
                    kit, request, base, next: form["next"], email: form["email"],
                    error: "The sign-in form was out of date; it has been renewed. Please sign in again.", status: .forbidden)
            }
            let origin = RequestOrigin(clientAddress: base.clientAddress, requestID: base.requestID)
            do {
                let (_, token) = try await kit.sessions.signIn(
                    email: form["email"] ?? "", password: form["password"] ?? "", totp: form["otp"], origin: origin)
                let secure = kit.cookie.isSecure(request, context: base)
                var headers = HTTPFields()
                headers.append(.init(name: .setCookie, value: kit.cookie.header(kit.cookie.sessionName(request, context: base), token, secure: secure)))
                headers.append(.init(name: .setCookie, value: kit.cookie.removal(kit.cookie.signInName(request, context: base), secure: secure)))
                return AdminPages.redirect(to: next(form["next"]), headers: headers)
            } catch AdminSessions.Refusal.notStaff {
                return signInPage(
                    kit, request, base, next: form["next"], email: form["email"],
                    error: "This account has no access to the back office.", status: .forbidden)
            } catch AdminSessions.Refusal.credentials(let problem) {
                let message = problem.slug == "mfa-required"
                    ? "This account uses two-factor sign-in: enter the current code from your authenticator app." : problem.pageMessage
                var headers = HTTPFields()
                if let retry = problem.headers[.retryAfter] { headers[.retryAfter] = retry }
                return signInPage(
                    kit, request, base, next: form["next"], email: form["email"], error: message, status: problem.status,
                    headers: headers)
            }
        }
        routes.action("/admin/sign-out", access: .role(.staff)) { request, context, _ in
            try await kit.sessions.signOut(context.session, origin: context.origin)
            return signedOut(kit, request, context)
        }
        routes.action("/admin/sign-out-everywhere", access: .role(.staff)) { request, context, _ in
            try await kit.sessions.signOutEverywhere(context.member, origin: context.origin)
            return signedOut(kit, request, context)
        }
        AdminAssets.register(on: routes.registrar)
    }

    /// Where to go after signing in: a back-office path, never another site.
    static func next(_ value: (some StringProtocol)?) -> String {
        guard let value, value == "/admin" || value.hasPrefix("/admin/") || value.hasPrefix("/admin?"), !value.contains("//"), !value.contains("\\"),
            value.utf8.count <= 200
        else { return "/admin" }
        return String(value)
    }

    private static func signedOut(_ kit: AdminKit, _ request: Request, _ context: AdminContext) -> Response {
        var headers = HTTPFields()
        headers[.setCookie] = kit.cookie.removal(
            kit.cookie.sessionName(request, context: context.base), secure: kit.cookie.isSecure(request, context: context.base))
        return AdminPages.redirect(to: "/admin/sign-in?signed_out=1", headers: headers)
    }

    /// The sign-in form with a fresh form token, set in the sign-in cookie as well.
    private static func signInPage(
        _ kit: AdminKit, _ request: Request, _ base: AppRequestContext, next: String?, email: String? = nil,
        notice: String? = nil, error: String? = nil, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]
    ) -> Response {
        let token = SecretToken.make()
        var values: [String: Any] = ["form_token": token, "next": Self.next(next), "email": email ?? ""]
        if let error { values["error"] = error }
        if let notice { values["notice"] = notice }
        let body = kit.pages.render("sign-in", values)
        var headers = extra
        headers[.setCookie] = kit.cookie.header(
            kit.cookie.signInName(request, context: base), token, secure: kit.cookie.isSecure(request, context: base))
        return AdminPages.html(kit.pages.render("layout", ["title": "Sign in", "body": body]), status: status, headers: headers)
    }
}
