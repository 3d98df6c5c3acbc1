import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@Suite struct OAuthTests {
    @Test func aCustomerGrantsAnAppTheReadingOfTheirOwnOrders() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app)
            let client = try await app.registerOAuthApp(admin: fixture.admin, scopes: [.ordersRead])
            #expect(client.secret?.hasPrefix("emp_cs_") == true)
            let ada = try await app.signIn("ada@example.com", as: .customer)
            let bob = try await app.signIn("bob@example.com", as: .customer)
            let adaOrder = try #require(try await app.checkout(try await app.readyCart(fixture, token: ada)).jsonObject()["id"] as? String)
            let bobOrder = try #require(try await app.checkout(try await app.readyCart(fixture, token: bob)).jsonObject()["id"] as? String)

            let pkce = TestOAuthApp.pkce()
            let page = try await app.authorizePage(client, scope: "orders:read", challenge: pkce.challenge)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
            let policy = try #require(page.headers[HTTPField.Name("Content-Security-Policy")!])
            #expect(policy.contains("default-src 'none'") && policy.contains("form-action 'self' https://app.example"))
            #expect(!page.text.contains("<script"))
            #expect(page.text.contains("orders:read") && page.text.contains("Budget Buddy"))
            let requestToken = try #require(TestApp.requestToken(in: page))

            // A wrong password shows the page again; the request stays open.
            let wrong = try await app.answerConsent(requestToken, email: "ada@example.com", password: "not her password")
            #expect(wrong.status == .unauthorized)
            #expect(wrong.text.contains("request_token"))
            let allowed = try await app.answerConsent(requestToken, email: "ada@example.com")
            #expect(allowed.status == .seeOther)
            #expect(allowed.headers[.location]?.hasPrefix("https://app.example/callback?") == true)
            let parameters = TestApp.redirectParameters(allowed)
            #expect(parameters["state"] == "xyz")
            let code = try #require(parameters["code"])
            // The request is answered once.
            #expect(try await app.answerConsent(requestToken, email: "ada@example.com").status == .badRequest)

            let exchanged = try await app.exchange(client, code: code, verifier: pkce.verifier)
            #expect(exchanged.status == .ok, "\(exchanged.text)")
            #expect(exchanged.headers[.cacheControl] == "no-store")
            let tokens = try exchanged.jsonObject()
            #expect(tokens["token_type"] as? String == "Bearer" && tokens["expires_in"] as? Int == 900)
            #expect(tokens["scope"] as? String == "orders:read")
            let access = try #require(tokens["access_token"] as? String)
            let refresh = try #require(tokens["refresh_token"] as? String)

            // Ada's orders only; nothing of the shop's.
            let list = try await app.send(.get, "/v1/orders", token: access)
            #expect(list.status == .ok)
            #expect((try list.jsonObject()["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [adaOrder])
            #expect(try await app.send(.get, "/v1/orders/\(adaOrder)", token: access).status == .ok)
            #expect(try await app.send(.get, "/v1/orders/\(bobOrder)", token: access).status == .notFound)
            #expect(try await app.send(.get, "/v1/admin/orders", token: access).status == .forbidden)
            #expect(try await app.send(.get, "/v1/admin/orders/\(adaOrder)", token: access).status == .forbidden)
            #expect(try await app.send(.post, "/v1/orders/\(adaOrder)/cancel", token: access).status == .forbidden)
            #expect(try await app.send(.get, "/v1/me", token: access).status == .forbidden)

            // Refresh tokens rotate; the old one presented again revokes the whole grant.
            let rotated = try await app.tokenRequest(client, [("grant_type", "refresh_token"), ("refresh_token", refresh)])
            #expect(rotated.status == .ok, "\(rotated.text)")
            let second = try rotated.jsonObject()
            let newRefresh = try #require(second["refresh_token"] as? String)
            let newAccess = try #require(second["access_token"] as? String)
            #expect(newRefresh != refresh)
            #expect(try await app.send(.get, "/v1/orders", token: newAccess).status == .ok)
            let replay = try await app.tokenRequest(client, [("grant_type", "refresh_token"), ("refresh_token", refresh)])
            #expect(replay.status == .badRequest && app.oauthError(replay) == "invalid_grant")
            #expect(try await app.send(.get, "/v1/orders", token: newAccess).status == .unauthorized)
            let afterReuse = try await app.tokenRequest(client, [("grant_type", "refresh_token"), ("refresh_token", newRefresh)])
            #expect(app.oauthError(afterReuse) == "invalid_grant")

            // Nothing secret is stored as given.
            for row in try await app.database.query("SELECT code_hash FROM oauth_codes") {
                #expect(try row.decode("code_hash", as: String.self) != code)
            }
            #expect(try await app.database.query("SELECT * FROM oauth_refresh_tokens WHERE token_hash = \(refresh)").isEmpty)
            #expect(!app.logs.lines.joined().contains(code) && !app.logs.lines.joined().contains(refresh))
        }
    }

    @Test func aCustomerCannotGrantMoreThanTheirOwnOrders() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let client = try await app.registerOAuthApp(admin: admin, scopes: [.ordersRead, .catalogRead])
            _ = try await app.signIn("ada@example.com", as: .customer)
            let page = try await app.authorizePage(client, scope: "orders:read catalog:read", challenge: TestOAuthApp.pkce().challenge)
            let answer = try await app.answerConsent(try #require(TestApp.requestToken(in: page)), email: "ada@example.com")
            #expect(answer.status == .seeOther)
            let parameters = TestApp.redirectParameters(answer)
            #expect(parameters["error"] == "invalid_scope" && parameters["state"] == "xyz" && parameters["code"] == nil)
        }
    }

    @Test func staffGrantScopesWithinTheirRoleAndLoseThemWithIt() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let client = try await app.registerOAuthApp(admin: admin, type: "public", scopes: [.ordersRead, .catalogRead])
            #expect(client.secret == nil)
            _ = try await app.signIn("staff@example.com", as: .staff)
            let tokens = try await app.appTokens(client, email: "staff@example.com", scope: "catalog:read")
            #expect(try await app.send(.get, "/v1/admin/products", token: tokens.access).status == .ok)
            #expect(try await app.send(.get, "/v1/admin/orders", token: tokens.access).status == .forbidden)
            #expect(try await app.send(.post, "/v1/admin/products", token: tokens.access, json: #"{"handle":"x","title":"X"}"#).status == .forbidden)
            #expect(try await app.send(.get, "/v1/admin/staff", token: tokens.access).status == .forbidden)
            // A narrower scope on refresh is fine, a wider one is not.
            let wider = try await app.tokenRequest(
                client, [("grant_type", "refresh_token"), ("refresh_token", tokens.refresh!), ("scope", "orders:read")])
            #expect(app.oauthError(wider) == "invalid_scope")
            // Made a customer, the staff member's grant no longer opens staff routes.
            let staffID = try #require(
                try await app.database.queryFirst("SELECT id FROM users WHERE email = 'staff@example.com'")?.decode("id", as: String.self))
            #expect(try await app.send(.put, "/v1/admin/users/\(staffID)/role", token: admin, json: #"{"role":"customer"}"#).status == .ok)
            #expect(try await app.send(.get, "/v1/admin/products", token: tokens.access).status == .unauthorized)
            let refreshed = try await app.tokenRequest(client, [("grant_type", "refresh_token"), ("refresh_token", tokens.refresh!)])
            #expect(app.oauthError(refreshed) == "invalid_scope", "\(refreshed.text)")
        }
    }

    @Test func clientCredentialsActAsTheAppWithItsScopes() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let client = try await app.registerOAuthApp(admin: admin, scopes: [.catalogRead], grantTypes: ["client_credentials"])
            let token = try await app.clientCredentialsToken(client)
            // Registered for client credentials only: no consent page, no code.
            let page = try await app.authorizePage(client, scope: "catalog:read", challenge: TestOAuthApp.pkce().challenge)
            #expect(TestApp.redirectParameters(page)["error"] == "unauthorized_client")
            // An app people grant access to cannot take tokens for itself.
            let budget = try await app.registerOAuthApp(admin: admin, scopes: [.ordersRead])
            #expect(app.oauthError(try await app.tokenRequest(budget, [("grant_type", "client_credentials")])) == "unauthorized_client")
            #expect(try await app.send(.get, "/v1/admin/products", token: token).status == .ok)
            #expect(try await app.send(.post, "/v1/admin/products", token: token, json: #"{"handle":"x","title":"X"}"#).status == .forbidden)
            #expect(try await app.send(.get, "/v1/orders", token: token).status == .forbidden)
            #expect(try await app.send(.get, "/v1/me", token: token).status == .forbidden)
            // Client secret in the body works as well as Basic.
            let posted = try await app.tokenRequest(client, [("grant_type", "client_credentials")], basic: false)
            let postedTokens = try posted.jsonObject()
            #expect(posted.status == .ok && postedTokens["refresh_token"] == nil)
            let wider = try await app.tokenRequest(client, [("grant_type", "client_credentials"), ("scope", "catalog:write")])
            #expect(app.oauthError(wider) == "invalid_scope")
            let publicApp = try await app.send(.post, "/v1/admin/apps", token: admin, json: #"{"name":"N","client_type":"public","redirect_uris":[],"scopes":["catalog:read"],"grant_types":["client_credentials"]}"#)
            try expectInvalid(publicApp, at: "/grant_types")
            // Deleting the app ends its tokens at once.
            #expect(try await app.send(.delete, "/v1/admin/apps/\(client.clientID)", token: admin).status == .noContent)
            #expect(try await app.send(.get, "/v1/admin/products", token: token).status == .unauthorized)
            #expect(app.oauthError(try await app.tokenRequest(client, [("grant_type", "client_credentials")])) == "invalid_client")
        }
    }

    @Test func badAuthorizationRequestsAreRefusedWithoutACode() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let client = try await app.registerOAuthApp(admin: admin, scopes: [.ordersRead])
            let challenge = TestOAuthApp.pkce().challenge
            // Before the redirect URI is known to be right: a page, never a redirect.
            for overrides: [String: String?] in [
                ["redirect_uri": "https://evil.example/callback"], ["redirect_uri": "https://app.example/callback/"],
                ["redirect_uri": nil], ["client_id": "0193a1b2-0000-7000-8000-000000000000"], ["client_id": "nonsense"],
            ] {
                let response = try await app.authorizePage(client, scope: "orders:read", challenge: challenge, overrides: overrides)
                #expect(response.status == .badRequest, "\(overrides)")
                #expect(response.headers[.location] == nil)
            }
            // After: back to the app with the error and the state.
            for (overrides, error): ([String: String?], String) in [
                (["state": nil], "invalid_request"), (["code_challenge_method": "plain"], "invalid_request"),
                (["code_challenge": nil], "invalid_request"), (["code_challenge": "short"], "invalid_request"),
                (["response_type": "token"], "unsupported_response_type"), (["scope": "catalog:read"], "invalid_scope"),
                (["scope": "everything"], "invalid_scope"), (["scope": nil], "invalid_scope"),
            ] {
                let response = try await app.authorizePage(client, scope: "orders:read", challenge: challenge, overrides: overrides)
                #expect(response.status == .seeOther, "\(overrides)")
                let parameters = TestApp.redirectParameters(response)
                #expect(parameters["error"] == error && parameters["code"] == nil, "\(overrides): \(parameters)")
            }
            // Denying sends the app access_denied.
            _ = try await app.signIn("ada@example.com", as: .customer)
            let page = try await app.authorizePage(client, scope: "orders:read", challenge: challenge)
            let denied = try await app.answerConsent(try #require(TestApp.requestToken(in: page)), email: "", password: "", decision: "deny")
            #expect(TestApp.redirectParameters(denied) == ["error": "access_denied", "state": "xyz"])
            // An unknown consent request is a page, not a redirect.
            let forged = try await app.answerConsent("forged", email: "ada@example.com")
            #expect(forged.status == .badRequest && forged.headers[.location] == nil)
        }
    }

    @Test func badCodeExchangesGetNoToken() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let client = try await app.registerOAuthApp(admin: admin, scopes: [.ordersRead])
            let other = try await app.registerOAuthApp(admin: admin, name: "Other", scopes: [.ordersRead])
            _ = try await app.signIn("ada@example.com", as: .customer)
            func code() async throws -> (String, String) {
                let pkce = TestOAuthApp.pkce()
                return (try await app.authorizationCode(client, email: "ada@example.com", scope: "orders:read", challenge: pkce.challenge), pkce.verifier)
            }

            var (issued, verifier) = try await code()
            let wrongVerifier = try await app.exchange(client, code: issued, verifier: TestOAuthApp.pkce().verifier)
            #expect(wrongVerifier.status == .badRequest && app.oauthError(wrongVerifier) == "invalid_grant")
            // The failed try spent the code.
            #expect(app.oauthError(try await app.exchange(client, code: issued, verifier: verifier)) == "invalid_grant")

            (issued, verifier) = try await code()
            let wrongRedirect = try await app.exchange(client, code: issued, verifier: verifier, redirectURI: "https://app.example/other")
            #expect(app.oauthError(wrongRedirect) == "invalid_grant")

            (issued, verifier) = try await code()
            #expect(app.oauthError(try await app.exchange(other, code: issued, verifier: verifier)) == "invalid_grant")

            (issued, verifier) = try await code()
            app.clock.advance(by: 61)
            #expect(app.oauthError(try await app.exchange(client, code: issued, verifier: verifier)) == "invalid_grant")

            // A code used twice: the second try fails and revokes what the first got.
            (issued, verifier) = try await code()
            let first = try await app.exchange(client, code: issued, verifier: verifier)
            let access = try #require(try first.jsonObject()["access_token"] as? String)
            #expect(try await app.send(.get, "/v1/orders", token: access).status == .ok)
            #expect(app.oauthError(try await app.exchange(client, code: issued, verifier: verifier)) == "invalid_grant")
            #expect(try await app.send(.get, "/v1/orders", token: access).status == .unauthorized)

            #expect(app.oauthError(try await app.tokenRequest(client, [("grant_type", "authorization_code"), ("code_verifier", verifier), ("redirect_uri", client.redirectURI)])) == "invalid_request")
            #expect(app.oauthError(try await app.exchange(client, code: "unknown", verifier: verifier)) == "invalid_grant")
            #expect(app.oauthError(try await app.tokenRequest(client, [("grant_type", "password")])) == "unsupported_grant_type")
            #expect(app.oauthError(try await app.tokenRequest(client, [])) == "invalid_request")

            let unknown = TestOAuthApp(clientID: "0193a1b2-0000-7000-8000-000000000000", secret: "emp_cs_x", redirectURI: client.redirectURI)
            let unknownClient = try await app.tokenRequest(unknown, [("grant_type", "client_credentials")])
            #expect(unknownClient.status == .unauthorized && app.oauthError(unknownClient) == "invalid_client")
            #expect(unknownClient.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true)
            let wrongSecret = TestOAuthApp(clientID: client.clientID, secret: "emp_cs_wrong", redirectURI: client.redirectURI)
            #expect(app.oauthError(try await app.tokenRequest(wrongSecret, [("grant_type", "client_credentials")])) == "invalid_client")
            let noSecret = TestOAuthApp(clientID: client.clientID, secret: nil, redirectURI: client.redirectURI)
            #expect(app.oauthError(try await app.tokenRequest(noSecret, [("grant_type", "client_credentials")])) == "invalid_client")
        }
    }

    @Test func aCodeRedeemedTwentyTimesAtOnceYieldsOneToken() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let client = try await app.registerOAuthApp(admin: admin, scopes: [.ordersRead])
            _ = try await app.signIn("ada@example.com", as: .customer)
            let pkce = TestOAuthApp.pkce()
            let code = try await app.authorizationCode(client, email: "ada@example.com", scope: "orders:read", challenge: pkce.challenge)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await app.exchange(client, code: code, verifier: pkce.verifier).status }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 1)
            #expect(statuses.filter { $0 == .badRequest }.count == 19)
            #expect(try await app.database.query("SELECT id FROM oauth_grants").count == 1)
        }
    }

    @Test func revokingATokenEndsItsGrant() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let client = try await app.registerOAuthApp(admin: admin, scopes: [.ordersRead])
            let other = try await app.registerOAuthApp(admin: admin, name: "Other", scopes: [.ordersRead])
            _ = try await app.signIn("ada@example.com", as: .customer)
            let first = try await app.appTokens(client, email: "ada@example.com", scope: "orders:read")
            // Another client cannot revoke it; the answer is the same.
            #expect(try await app.tokenRequest(other, [("token", first.access)]).status == .badRequest)
            var headers = HTTPFields()
            headers[.authorization] = "Basic " + Data("\(other.clientID):\(other.secret!)".utf8).base64EncodedString()
            #expect(try await app.postForm("/oauth/revoke", [("token", first.access)], headers: headers).status == .ok)
            #expect(try await app.send(.get, "/v1/orders", token: first.access).status == .ok)

            headers[.authorization] = "Basic " + Data("\(client.clientID):\(client.secret!)".utf8).base64EncodedString()
            #expect(try await app.postForm("/oauth/revoke", [("token", first.access)], headers: headers).status == .ok)
            #expect(try await app.send(.get, "/v1/orders", token: first.access).status == .unauthorized)
            let refreshed = try await app.tokenRequest(client, [("grant_type", "refresh_token"), ("refresh_token", first.refresh!)])
            #expect(app.oauthError(refreshed) == "invalid_grant")

            let second = try await app.appTokens(client, email: "ada@example.com", scope: "orders:read")
            let revoked = try await app.postForm(
                "/oauth/revoke", [("token", second.refresh!), ("token_type_hint", "refresh_token")], headers: headers)
            #expect(revoked.status == .ok)
            #expect(try await app.send(.get, "/v1/orders", token: second.access).status == .unauthorized)
            #expect(try await app.postForm("/oauth/revoke", [("token", "unknown")], headers: headers).status == .ok)
            #expect(app.oauthError(try await app.postForm("/oauth/revoke", [("token", "x")])) == "invalid_client")
        }
    }

    @Test func adminsRegisterListAndDeleteApps() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            for body in [
                #"{"name":"A","client_type":"confidential","redirect_uris":["http://app.example/cb"],"scopes":["orders:read"]}"#,
                #"{"name":"A","client_type":"secret","redirect_uris":["https://app.example/cb"],"scopes":["orders:read"]}"#,
                #"{"name":"A","client_type":"public","redirect_uris":[],"scopes":["orders:read"]}"#,
                #"{"name":"A","client_type":"public","redirect_uris":["https://app.example/cb#x"],"scopes":["orders:read"]}"#,
                #"{"name":"A","client_type":"public","redirect_uris":["https://app.example/cb"],"scopes":["everything"]}"#,
                #"{"name":"","client_type":"public","redirect_uris":["https://app.example/cb"],"scopes":["orders:read"]}"#,
            ] {
                let response = try await app.send(.post, "/v1/admin/apps", token: admin, json: body)
                #expect(response.status == .badRequest, "\(body): \(response.text)")
            }
            let native = try await app.registerOAuthApp(
                admin: admin, name: "<b>Native</b>", type: "public", scopes: [.ordersRead], redirectURI: "http://127.0.0.1:7000/cb")
            let listed = try await app.send(.get, "/v1/admin/apps", token: admin).jsonObject()
            let apps = try #require(listed["data"] as? [[String: Any]])
            #expect(apps.count == 1 && apps[0]["client_secret"] == nil && apps[0]["client_type"] as? String == "public")
            // The name is escaped on the consent page.
            let page = try await app.authorizePage(native, scope: "orders:read", challenge: TestOAuthApp.pkce().challenge)
            #expect(page.text.contains("&lt;b&gt;Native&lt;/b&gt;") && !page.text.contains("<b>Native"))
            #expect(try await app.send(.delete, "/v1/admin/apps/\(native.clientID)", token: admin).status == .noContent)
            #expect(try await app.send(.delete, "/v1/admin/apps/\(native.clientID)", token: admin).status == .notFound)
            let audit = try await app.send(.get, "/v1/admin/audit-log?action=oauth_app.deleted", token: admin).jsonObject()
            #expect((audit["data"] as? [[String: Any]])?.first?["target"] as? String == native.clientID)
        }
    }

    @Test func metadataDescribesTheServer() async throws {
        try await withApp { app in
            let response = try await app.http.execute(uri: "/.well-known/oauth-authorization-server", method: .get, headers: [:])
            #expect(response.status == .ok)
            let metadata = try response.jsonObject()
            // The test client names no public host: the loopback issuer.
            let issuer = try #require(metadata["issuer"] as? String)
            #expect(issuer == "http://localhost")
            #expect(metadata["authorization_endpoint"] as? String == issuer + "/oauth/authorize")
            #expect(metadata["token_endpoint"] as? String == issuer + "/oauth/token")
            #expect(metadata["revocation_endpoint"] as? String == issuer + "/oauth/revoke")
            #expect(metadata["grant_types_supported"] as? [String] == ["authorization_code", "refresh_token", "client_credentials"])
            #expect(metadata["code_challenge_methods_supported"] as? [String] == ["S256"])
            #expect((metadata["scopes_supported"] as? [String])?.contains("orders:read") == true)
        }
    }
}
