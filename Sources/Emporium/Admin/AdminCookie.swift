import Foundation
import HTTPTypes
import Hummingbird

/// The back office's cookies. Over HTTPS (the server's own TLS, or a trusted proxy that says
/// `X-Forwarded-Proto: https`) they are `__Host-` cookies: `Secure`, `Path=/`, no `Domain`, so
/// no other site or subdomain and no plain-HTTP page can set or read them. A browser refuses a
/// `Secure` cookie from a plain-HTTP page, so over plain HTTP (a shop tried out on loopback)
/// the same cookies go without the prefix and without `Secure`: `emporium_admin`. Each name is
/// read only over the kind of connection it was made for. Both are `HttpOnly` and
/// `SameSite=Strict`: no script reads them and no other site's page sends them.
struct AdminCookie: Sendable {
    /// The session cookie's name over HTTPS.
    static let session = "__Host-emporium_admin"
    /// Its name over plain HTTP.
    static let plainSession = "emporium_admin"
    /// The sign-in form's token (login CSRF): the form carries the same value as this cookie,
    /// which another site's page can neither read nor send.
    static let signIn = "__Host-emporium_admin_signin"
    static let plainSignIn = "emporium_admin_signin"

    /// Whether the server itself speaks TLS.
    let serverTLS: Bool

    /// Whether the browser reached us over HTTPS.
    func isSecure(_ request: Request, context: AppRequestContext) -> Bool {
        if serverTLS { return true }
        // Only a proxy the server trusts (`--trust-forwarded-for`) is believed.
        guard context.forwardedClientAddress != nil else { return false }
        return request.headers[.xForwardedProto]?.lowercased() == "https"
    }

    func sessionName(_ request: Request, context: AppRequestContext) -> String {
        isSecure(request, context: context) ? Self.session : Self.plainSession
    }

    func signInName(_ request: Request, context: AppRequestContext) -> String {
        isSecure(request, context: context) ? Self.signIn : Self.plainSignIn
    }

    /// The cookie's value, read only under the name the connection allows.
    func value(of name: String, in request: Request) -> String? {
        guard let value = request.cookies[name]?.value, !value.isEmpty, value.utf8.count <= 200 else { return nil }
        return value
    }

    /// `Set-Cookie` for `value`, a session cookie (gone when the browser closes) unless `maxAge`.
    func header(_ name: String, _ value: String, secure: Bool, maxAge: Int? = nil) -> String {
        var parts = ["\(name)=\(value)", "Path=/", "HttpOnly", "SameSite=Strict"]
        if secure { parts.append("Secure") }
        if let maxAge { parts.append("Max-Age=\(maxAge)") }
        return parts.joined(separator: "; ")
    }

    /// `Set-Cookie` that removes the cookie.
    func removal(_ name: String, secure: Bool) -> String {
        header(name, "", secure: secure, maxAge: 0)
    }
}

extension HTTPField.Name {
    static let xForwardedProto = HTTPField.Name("X-Forwarded-Proto")!
}
