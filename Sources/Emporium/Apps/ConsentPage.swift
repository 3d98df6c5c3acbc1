import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// The server-rendered consent page: which app asks for which scopes, and a form in which
/// the person signs in and allows or denies. Every value is HTML-escaped by Mustache; the page
/// has no script, and its Content-Security-Policy allows none, no framing, and form posts only
/// to this server and to the app's redirect URI (browsers check the redirect after a post).
struct ConsentPage: Sendable {
    private let library: MustacheLibrary

    init() throws {
        var library = MustacheLibrary()
        try library.register(Self.consent, named: "consent")
        try library.register(Self.failure, named: "failure")
        self.library = library
    }

    static let descriptions: [Scope: String] = [
        .catalogRead: "Read products and categories",
        .catalogWrite: "Create, change and delete products and categories",
        .inventoryRead: "Read stock levels and movements",
        .inventoryWrite: "Change stock levels and locations",
        .ordersRead: "Read orders (a customer's own orders only, when a customer allows it)",
        .ordersWrite: "Capture, refund, cancel and fulfil orders",
        .customersRead: "Read customer accounts",
        .reportsRead: "Read sales reports",
    ]

    func consent(_ consent: OAuthService.Consent, error: String? = nil, status: HTTPResponse.Status = .ok) -> Response {
        var values: [String: Any] = [
            "app": consent.app.name,
            "redirect_host": URLComponents(string: consent.request.redirectURI)?.host ?? "",
            "scopes": consent.request.scopes.sorted().map { ["name": $0.rawValue, "description": Self.descriptions[$0] ?? ""] },
            "request_token": consent.requestToken,
        ]
        if let error { values["error"] = error }
        return page(library.render(values, withTemplate: "consent") ?? "", status: status, formTarget: consent.request.redirectURI)
    }

    func failure(_ message: String, status: HTTPResponse.Status = .badRequest) -> Response {
        page(library.render(["message": message], withTemplate: "failure") ?? "", status: status, formTarget: nil)
    }

    private func page(_ html: String, status: HTTPResponse.Status, formTarget: String?) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        var formAction = "'self'"
        if let formTarget, let components = URLComponents(string: formTarget), let scheme = components.scheme, let host = components.host {
            formAction += " \(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
        }
        headers[.contentSecurityPolicy] =
            "default-src 'none'; form-action \(formAction); frame-ancestors 'none'; base-uri 'none'"
        headers[.xFrameOptions] = "DENY"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    private static let consent = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>Allow {{app}}?</title></head>
        <body>
        <h1>Allow {{app}} to use your account?</h1>
        <p>{{app}} asks to:</p>
        <ul>
        {{#scopes}}<li><code>{{name}}</code>: {{description}}</li>
        {{/scopes}}</ul>
        <p>If you allow it, you will be sent back to <strong>{{redirect_host}}</strong>.</p>
        {{#error}}<p role="alert"><strong>{{error}}</strong></p>{{/error}}
        <form method="post" action="/oauth/authorize">
        <input type="hidden" name="request_token" value="{{request_token}}">
        <p><label>E-mail <input type="email" name="email" autocomplete="username"></label></p>
        <p><label>Password <input type="password" name="password" autocomplete="current-password"></label></p>
        <p><label>One-time code (if two-factor sign-in is on) <input type="text" name="otp" inputmode="numeric" autocomplete="one-time-code"></label></p>
        <p><button type="submit" name="decision" value="allow">Allow</button>
        <button type="submit" name="decision" value="deny">Deny</button></p>
        </form>
        </body></html>
        """

    private static let failure = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>Authorization failed</title></head>
        <body><h1>This authorization request cannot go on</h1><p>{{message}}</p></body></html>
        """
}

extension HTTPField.Name {
    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy")!
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
}
