import Emporium
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// A browser in the back office's tests: it keeps the cookies the server sets, sends forms
/// as a browser does, and reads the CSRF token from the last page.
final class AdminTestBrowser: @unchecked Sendable {
    let app: TestApp
    /// Cookies by name, as `Set-Cookie` left them.
    private(set) var cookies: [String: String] = [:]
    /// The `csrf_token` of the last page that had one.
    private(set) var csrfToken: String?

    init(_ app: TestApp) {
        self.app = app
    }

    /// A second tab of the same session: its own cookie jar with the same cookies, so that
    /// tabs can send forms at once without sharing mutable state.
    func tab() -> AdminTestBrowser {
        let tab = AdminTestBrowser(app)
        tab.cookies = cookies
        tab.csrfToken = csrfToken
        return tab
    }

    /// A browser signed in as a new member of `role` (registered through the API).
    static func signedIn(_ app: TestApp, _ email: String, as role: Role, name: String = "Ada") async throws -> AdminTestBrowser {
        _ = try await app.register(email, name: name)
        if role != .customer {
            try await app.database.execute("UPDATE users SET role = \(role.rawValue) WHERE email = \(email)")
        }
        let browser = AdminTestBrowser(app)
        let answer = try await browser.signIn(email: email)
        guard answer.status == .seeOther else { throw TestFailure("signing in answered \(answer.status): \(answer.text)") }
        _ = try await browser.get("/admin")
        return browser
    }

    @discardableResult
    func get(_ path: String) async throws -> TestResponse {
        try await send(.get, path, body: nil)
    }

    /// Posts `fields` as a form, with the page's CSRF token unless `csrf` says otherwise
    /// (`.some(nil)`: none at all).
    @discardableResult
    func post(_ path: String, _ fields: [(String, String)] = [], csrf: String?? = .none) async throws -> TestResponse {
        var fields = fields
        switch csrf {
        case .none: if let csrfToken { fields.append(("csrf_token", csrfToken)) }
        case .some(let token?): fields.append(("csrf_token", token))
        case .some(nil): break
        }
        return try await send(.post, path, body: Self.encode(fields))
    }

    /// Posts `fields` as `multipart/form-data`, as a browser sends a form with a file input
    /// (`files` are name, file name and content), with the page's CSRF token.
    @discardableResult
    func postMultipart(_ path: String, _ fields: [(String, String)], files: [(String, String, String)] = []) async throws -> TestResponse {
        let boundary = "----EmporiumTest\(UInt32.random(in: 0...UInt32.max))"
        var body = ""
        for (name, value) in fields + (csrfToken.map { [("csrf_token", $0)] } ?? []) {
            body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n"
        }
        for (name, filename, content) in files {
            body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(filename)\"\r\n"
            body += "Content-Type: text/csv\r\n\r\n\(content)\r\n"
        }
        body += "--\(boundary)--\r\n"
        return try await send(.post, path, body: body, contentType: "multipart/form-data; boundary=\(boundary)")
    }

    /// The sign-in form, filled in and sent.
    func signIn(email: String, password: String = "correct horse battery", otp: String? = nil) async throws -> TestResponse {
        let form = try await get("/admin/sign-in")
        let token = try #require(Self.field("form_token", in: form.text))
        var fields = [("form_token", token), ("email", email), ("password", password), ("next", "/admin")]
        if let otp { fields.append(("otp", otp)) }
        return try await send(.post, "/admin/sign-in", body: Self.encode(fields))
    }

    /// The `Cookie` header this browser sends.
    var cookieHeader: String { cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }

    func setCookie(_ name: String, _ value: String?) {
        cookies[name] = value
    }

    private func send(
        _ method: HTTPRequest.Method, _ path: String, body: String?, contentType: String = "application/x-www-form-urlencoded"
    ) async throws -> TestResponse {
        var headers = HTTPFields()
        if !cookies.isEmpty {
            headers[.cookie] = cookieHeader
        }
        if body != nil { headers[.contentType] = contentType }
        let response = try await app.http.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        for field in response.headers[values: .setCookie] {
            let pair = field.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0]), value = pair.count > 1 ? String(pair[1]) : ""
            cookies[name] = field.contains("Max-Age=0") ? nil : value
        }
        if let token = Self.field("csrf_token", in: response.text) { csrfToken = token }
        // Every back-office answer (its assets and error answers too) allows no script, no inline
        // style and no framing.
        if path.hasPrefix("/admin") {
            #expect(response.headers[.contentSecurityPolicy]?.hasPrefix("default-src 'none'; style-src 'self'") == true, "\(path)")
            #expect(response.headers[.xFrameOptions] == "DENY", "\(path)")
        }
        if path.hasPrefix("/admin"), !path.hasPrefix("/admin/assets") {
            #expect(!response.text.contains("<script"), "\(path)")
            #expect(!response.text.contains("style=\""), "\(path)")
        }
        return response
    }

    /// The value of the hidden input `name` in `html`.
    static func field(_ name: String, in html: String) -> String? {
        guard let range = html.range(of: "name=\"\(name)\" value=\"") else { return nil }
        return String(html[range.upperBound...].prefix { $0 != "\"" })
    }

    static func encode(_ fields: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
    }
}

extension HTTPField.Name {
    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy")!
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
}
