@testable import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// Issuing API keys and registering OAuth apps from the back office: the secret is on the
/// answer once, works at once, and the forms keep the API's rules.
@Suite struct AdminKeysAndAppsTests {
    /// The value of the read-only input `id` on a page that shows a secret.
    static func shown(_ id: String, in html: String) -> String? {
        guard let range = html.range(of: "id=\"\(id)\" value=\"") else { return nil }
        return String(html[range.upperBound...].prefix { $0 != "\"" })
    }

    @Test func anAdminIssuesAKeyWhoseSecretIsShownOnceAndWorks() async throws {
        try await withApp { app in
            let admin = try await AdminTestBrowser.signedIn(app, "boss@example.com", as: .admin)
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let form = try await admin.get("/admin/staff")
            #expect(form.text.contains("name=\"scope_catalog_read\"") && form.text.contains("<label class=\"check\" for=\"key-scope_catalog_read\">catalog:read</label>"))
            // The scope boxes come from a partial shared with the app form, lines and all.
            #expect(form.text.contains("<fieldset><legend>Scopes</legend>\n<p><input type=\"checkbox\" id=\"key-scope_"))
            #expect(form.text.contains("</label></p>\n</fieldset>\n<p><label for=\"key-expires\">"))

            // Staff are refused and nothing is issued.
            #expect(try await staff.post("/admin/api-keys", [("name", "Sneaky"), ("scope_catalog_read", "yes")]).status == .forbidden)
            // No scope, a past expiry, a malformed date: back to the page with the API's messages.
            let noScope = try await admin.post("/admin/api-keys", [("name", "Empty")])
            #expect(noScope.status == .seeOther && noScope.headers[.location] == "/admin/staff")
            #expect(try await admin.get("/admin/staff").text.contains("scopes: must name at least one scope"))
            _ = try await admin.post("/admin/api-keys", [("name", "Old"), ("scope_catalog_read", "yes"), ("expires_on", "2001-01-01")])
            #expect(try await admin.get("/admin/staff").text.contains("expires_on: must be today or later"))
            _ = try await admin.post("/admin/api-keys", [("name", "Odd"), ("scope_catalog_read", "yes"), ("expires_on", "next week")])
            #expect(try await admin.get("/admin/staff").text.contains("expires_on: must be a date, YYYY-MM-DD"))
            #expect(try await app.database.query("SELECT id FROM api_keys").isEmpty)

            let issued = try await admin.post(
                "/admin/api-keys", [("name", "<i>Feed</i>"), ("scope_catalog_read", "yes"), ("expires_on", "2099-12-31")])
            #expect(issued.status == .created)
            #expect(issued.headers[.cacheControl] == "no-store")
            #expect(issued.text.contains("&lt;i&gt;Feed&lt;/i&gt;") && !issued.text.contains("<i>Feed"))
            // It works through the day it expires on.
            #expect(issued.text.contains("expires 2100-01-01T00:00:00"))
            let secret = try #require(Self.shown("api-key-secret", in: issued.text))
            #expect(secret.hasPrefix("emp_"))
            // It works at once, within its scope only.
            #expect(try await app.send(.get, "/v1/admin/products", token: secret).status == .ok)
            #expect(try await app.send(.get, "/v1/admin/orders", token: secret).status == .forbidden)
            // Never shown again: the list has its prefix only.
            let listed = try await admin.get("/admin/staff").text
            #expect(!listed.contains(secret) && listed.contains(String(secret.prefix(APIKey.shownPrefixLength))))
            let audited = try await app.database.query("SELECT actor_id FROM audit_log WHERE action = 'api_key.created'")
            #expect(audited.count == 1)
        }
    }

    @Test func aKeyThatExpiresTodayWorksToTheEndOfTheDayInUTC() async throws {
        try await withApp { app in
            let admin = try await AdminTestBrowser.signedIn(app, "boss@example.com", as: .admin)
            _ = try await admin.get("/admin/staff")
            let today = String(Timestamp.string(from: app.clock.now()).prefix(10))
            let midnight = try #require(Timestamp.date(from: today + "T00:00:00Z")).addingTimeInterval(86_400)
            let issued = try await admin.post(
                "/admin/api-keys", [("name", "Today"), ("scope_catalog_read", "yes"), ("expires_on", today)])
            #expect(issued.status == .created)
            #expect(issued.text.contains("it expires \(Timestamp.string(from: midnight))."))
            let secret = try #require(Self.shown("api-key-secret", in: issued.text))
            #expect(try await app.send(.get, "/v1/admin/products", token: secret).status == .ok)
            // The whole day, to its last second, and not a moment after.
            app.clock.set(midnight.addingTimeInterval(-1))
            #expect(try await app.send(.get, "/v1/admin/products", token: secret).status == .ok)
            app.clock.set(midnight)
            #expect(try await app.send(.get, "/v1/admin/products", token: secret).status == .unauthorized)
        }
    }

    @Test func aPastExpiryIsReportedAtTheFormsFieldWhileTheAPIKeepsItsOwn() async throws {
        try await withApp { app in
            let admin = try await AdminTestBrowser.signedIn(app, "boss@example.com", as: .admin)
            _ = try await admin.get("/admin/staff")
            // Yesterday's key would end at today's midnight, already past.
            let yesterday = String(Timestamp.string(from: app.clock.now().addingTimeInterval(-86_400)).prefix(10))
            let refused = try await admin.post(
                "/admin/api-keys", [("name", "Late"), ("scope_catalog_read", "yes"), ("expires_on", yesterday)])
            #expect(refused.status == .seeOther && refused.headers[.location] == "/admin/staff")
            let page = try await admin.get("/admin/staff").text
            #expect(page.contains("expires_on: must be today or later") && !page.contains("expires_at"))

            let token = try await app.signIn("keys@example.com", as: .admin)
            let answer = try await app.send(
                .post, "/v1/admin/api-keys", token: token,
                json: #"{"name":"Late","scopes":["catalog:read"],"expires_at":"\#(yesterday)T00:00:00Z"}"#)
            try expectInvalid(answer, at: "/expires_at")
            #expect(try answer.errorPointers() == ["/expires_at"])
            #expect(try await app.database.query("SELECT id FROM api_keys").isEmpty)
        }
    }

    @Test func anAdminRegistersAppsAndDeletesThem() async throws {
        try await withApp { app in
            let admin = try await AdminTestBrowser.signedIn(app, "boss@example.com", as: .admin)
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            #expect(try await admin.get("/admin").text.contains("href=\"/admin/apps\""))
            #expect(!(try await staff.get("/admin").text.contains("href=\"/admin/apps\"")))
            #expect(try await staff.get("/admin/apps").status == .forbidden)
            let form = try await admin.get("/admin/apps").text
            #expect(form.contains("<fieldset><legend>Scopes</legend>\n<p><input type=\"checkbox\" id=\"app-scope_"))
            #expect(form.contains("<label class=\"check\" for=\"app-scope_catalog_read\">catalog:read</label></p>\n"))
            #expect(form.contains("</label></p>\n</fieldset>\n<p><button type=\"submit\">Register</button></p>"))

            // The API's rules: a public app cannot use client credentials; a redirect URI must be https.
            _ = try await admin.post("/admin/apps", [
                ("name", "Kiosk"), ("client_type", "public"), ("grant_client_credentials", "yes"), ("scope_catalog_read", "yes"),
            ])
            #expect(try await admin.get("/admin/apps").text.contains("grant_types: client_credentials needs a confidential app"))
            _ = try await admin.post("/admin/apps", [
                ("name", "Plain"), ("client_type", "confidential"), ("grant_authorization_code", "yes"),
                ("redirect_uris", "http://app.example/cb"), ("scope_orders_read", "yes"),
            ])
            #expect(try await admin.get("/admin/apps").text.contains("redirect_uris/0:"))
            #expect(try await app.database.query("SELECT id FROM oauth_apps").isEmpty)

            // A confidential app for itself: the secret is shown once and gets a token at once.
            let registered = try await admin.post("/admin/apps", [
                ("name", "<b>Sync</b>"), ("client_type", "confidential"), ("grant_client_credentials", "yes"),
                ("scope_catalog_read", "yes"),
            ])
            #expect(registered.status == .created && registered.headers[.cacheControl] == "no-store")
            #expect(registered.text.contains("&lt;b&gt;Sync&lt;/b&gt;"))
            let clientID = try #require(Self.shown("app-client-id", in: registered.text))
            let secret = try #require(Self.shown("app-client-secret", in: registered.text))
            let client = TestOAuthApp(clientID: clientID, secret: secret, redirectURI: "")
            let token = try await app.clientCredentialsToken(client, scope: "catalog:read")
            #expect(try await app.send(.get, "/v1/admin/products", token: token).status == .ok)
            let list = try await admin.get("/admin/apps").text
            #expect(list.contains("<code>\(clientID)</code>") && !list.contains(secret))

            // A public app with two redirect URIs has no secret.
            let kiosk = try await admin.post("/admin/apps", [
                ("name", "Kiosk"), ("client_type", "public"), ("grant_authorization_code", "yes"),
                ("redirect_uris", "https://kiosk.example/cb\nhttps://kiosk.example/other"), ("scope_orders_read", "yes"),
            ])
            #expect(kiosk.status == .created && Self.shown("app-client-secret", in: kiosk.text) == nil)
            #expect(try await admin.get("/admin/apps").text.contains("<code>https://kiosk.example/other</code>"))

            // Deleting asks first; then the app's token stops working.
            #expect(try await admin.post("/admin/apps/\(clientID)/delete").status == .seeOther)
            #expect(try await app.send(.get, "/v1/admin/products", token: token).status == .ok)
            #expect(try await admin.post("/admin/apps/\(clientID)/delete", [("confirm", "yes")]).status == .seeOther)
            #expect(try await admin.get("/admin/apps").text.contains("its grants and tokens no longer work"))
            #expect(try await app.send(.get, "/v1/admin/products", token: token).status == .unauthorized)
            #expect(try await staff.post("/admin/apps/\(clientID)/delete", [("confirm", "yes")]).status == .forbidden)
            let audited = try await app.database.query(
                "SELECT action FROM audit_log WHERE action IN ('oauth_app.created', 'oauth_app.deleted') ORDER BY action")
            #expect(audited.count == 3)
        }
    }
}
