import Crypto
import Emporium
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// A third-party app as the tests drive it: registration through the admin API, the consent
/// page answered like a browser would, and form-encoded token requests.
struct TestOAuthApp: Sendable {
    let clientID: String
    let secret: String?
    let redirectURI: String

    static let password = "correct horse battery"

    /// A fresh PKCE verifier and its S256 challenge.
    static func pkce() -> (verifier: String, challenge: String) {
        let verifier = (0..<48).map { _ in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~".randomElement()! }
        let text = String(verifier)
        let challenge = Data(SHA256.hash(data: Data(text.utf8))).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return (text, challenge)
    }
}

enum FormEncoding {
    static func encode(_ values: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return values.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
    }
}

extension TestApp {
    func registerOAuthApp(
        admin: String, name: String = "Budget Buddy", type: String = "confidential", scopes: [Scope],
        redirectURI: String = "https://app.example/callback", grantTypes: [String] = ["authorization_code"]
    ) async throws -> TestOAuthApp {
        let body = try String(decoding: JSONSerialization.data(withJSONObject: [
            "name": name, "client_type": type, "redirect_uris": [redirectURI], "scopes": scopes.map(\.rawValue),
            "grant_types": grantTypes,
        ] as [String: Any]), as: UTF8.self)
        let response = try await send(.post, "/v1/admin/apps", token: admin, json: body)
        guard response.status == .created else { throw TestFailure("registering an app answered \(response.status): \(response.text)") }
        let object = try response.jsonObject()
        return TestOAuthApp(clientID: object["client_id"] as! String, secret: object["client_secret"] as? String, redirectURI: redirectURI)
    }

    /// `GET /oauth/authorize` with the usual parameters, some replaced or removed (`nil`).
    func authorizePage(
        _ client: TestOAuthApp, scope: String, challenge: String, state: String? = "xyz", overrides: [String: String?] = [:]
    ) async throws -> TestResponse {
        var parameters: [String: String?] = [
            "response_type": "code", "client_id": client.clientID, "redirect_uri": client.redirectURI, "scope": scope,
            "state": state, "code_challenge": challenge, "code_challenge_method": "S256",
        ]
        for (name, value) in overrides { parameters[name] = value }
        let query = FormEncoding.encode(parameters.compactMap { name, value in value.map { (name, $0) } }.sorted { $0.0 < $1.0 })
        return try await http.execute(uri: "/oauth/authorize?" + query, method: .get, headers: [:])
    }

    static func requestToken(in page: TestResponse) -> String? {
        guard let match = page.text.firstMatch(of: #/name="request_token" value="([^"]+)"/#) else { return nil }
        return String(match.1)
    }

    func postForm(_ uri: String, _ values: [(String, String)], headers: HTTPFields = [:]) async throws -> TestResponse {
        var headers = headers
        headers[.contentType] = "application/x-www-form-urlencoded"
        return try await http.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: FormEncoding.encode(values)))
    }

    func answerConsent(_ requestToken: String, email: String, password: String = TestOAuthApp.password, decision: String = "allow") async throws
        -> TestResponse
    {
        try await postForm("/oauth/authorize", [
            ("request_token", requestToken), ("email", email), ("password", password), ("decision", decision),
        ])
    }

    /// The query parameters of a redirect's `Location`.
    static func redirectParameters(_ response: TestResponse) -> [String: String] {
        guard let location = response.headers[.location], let components = URLComponents(string: location) else { return [:] }
        var values: [String: String] = [:]
        for item in components.queryItems ?? [] { values[item.name] = item.value }
        return values
    }

    /// The whole consent step: the code the app receives for `email`'s consent.
    func authorizationCode(_ client: TestOAuthApp, email: String, scope: String, challenge: String) async throws -> String {
        let page = try await authorizePage(client, scope: scope, challenge: challenge)
        guard page.status == .ok, let token = Self.requestToken(in: page) else {
            throw TestFailure("the consent page answered \(page.status): \(page.text)")
        }
        let answer = try await answerConsent(token, email: email)
        guard answer.status == .seeOther, let code = Self.redirectParameters(answer)["code"] else {
            throw TestFailure("consent answered \(answer.status) \(answer.headers[.location] ?? ""): \(answer.text)")
        }
        return code
    }

    /// A token request, the client authenticating with HTTP Basic when it has a secret.
    func tokenRequest(_ client: TestOAuthApp, _ values: [(String, String)], basic: Bool = true) async throws -> TestResponse {
        var headers = HTTPFields()
        var values = values
        if let secret = client.secret, basic {
            headers[.authorization] = "Basic " + Data("\(client.clientID):\(secret)".utf8).base64EncodedString()
        } else {
            values.append(("client_id", client.clientID))
            if let secret = client.secret { values.append(("client_secret", secret)) }
        }
        return try await postForm("/oauth/token", values, headers: headers)
    }

    func exchange(_ client: TestOAuthApp, code: String, verifier: String, redirectURI: String? = nil) async throws -> TestResponse {
        try await tokenRequest(client, [
            ("grant_type", "authorization_code"), ("code", code), ("code_verifier", verifier),
            ("redirect_uri", redirectURI ?? client.redirectURI),
        ])
    }

    /// Access and refresh token for `email`'s consent to `scope`.
    func appTokens(_ client: TestOAuthApp, email: String, scope: String) async throws -> (access: String, refresh: String?) {
        let pkce = TestOAuthApp.pkce()
        let code = try await authorizationCode(client, email: email, scope: scope, challenge: pkce.challenge)
        let response = try await exchange(client, code: code, verifier: pkce.verifier)
        guard response.status == .ok else { throw TestFailure("the token endpoint answered \(response.status): \(response.text)") }
        let object = try response.jsonObject()
        return (object["access_token"] as! String, object["refresh_token"] as? String)
    }

    func clientCredentialsToken(_ client: TestOAuthApp, scope: String? = nil) async throws -> String {
        var values = [("grant_type", "client_credentials")]
        if let scope { values.append(("scope", scope)) }
        let response = try await tokenRequest(client, values)
        guard response.status == .ok, let token = try response.jsonObject()["access_token"] as? String else {
            throw TestFailure("client credentials answered \(response.status): \(response.text)")
        }
        return token
    }

    func oauthError(_ response: TestResponse) -> String? {
        (try? response.jsonObject())?["error"] as? String
    }
}
