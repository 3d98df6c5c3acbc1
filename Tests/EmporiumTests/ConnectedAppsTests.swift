import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// A person sees the apps they let in and takes access back themselves; nobody else can.
@Suite struct ConnectedAppsTests {
    @Test func aCustomerListsAndRevokesTheirOwnGrant() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app)
            let client = try await app.registerOAuthApp(admin: fixture.admin, scopes: [.ordersRead])
            let ada = try await app.signIn("ada@example.com", as: .customer)
            let bob = try await app.signIn("bob@example.com", as: .customer)
            let (access, refresh) = try await app.appTokens(client, email: "ada@example.com", scope: "orders:read")
            #expect(try await app.send(.get, "/v1/orders", token: access).status == .ok)

            let listed = try await app.send(.get, "/v1/me/apps", token: ada)
            #expect(listed.status == .ok, "\(listed.text)")
            let grants = try #require(try listed.jsonObject()["data"] as? [[String: Any]])
            #expect(grants.count == 1)
            let grant = try #require(grants.first)
            #expect((grant["app"] as? [String: Any])?["name"] as? String == "Budget Buddy")
            #expect((grant["app"] as? [String: Any])?["id"] as? String == client.clientID)
            #expect(grant["scopes"] as? [String] == ["orders:read"])
            let grantID = try #require(grant["id"] as? String)

            // Bob sees nothing of Ada's, and cannot take her grant back; neither can the app.
            #expect((try await app.send(.get, "/v1/me/apps", token: bob).jsonObject()["data"] as? [Any])?.isEmpty == true)
            #expect(try await app.send(.delete, "/v1/me/apps/\(grantID)", token: bob).status == .notFound)
            #expect(try await app.send(.delete, "/v1/me/apps/\(grantID)", token: access).status == .forbidden)
            #expect(try await app.send(.delete, "/v1/me/apps/not-an-id", token: ada).status == .notFound)
            #expect(try await app.send(.get, "/v1/orders", token: access).status == .ok)

            #expect(try await app.send(.delete, "/v1/me/apps/\(grantID)", token: ada).status == .noContent)
            #expect(try await app.send(.get, "/v1/orders", token: access).status == .unauthorized)
            let refreshed = try await app.tokenRequest(client, [("grant_type", "refresh_token"), ("refresh_token", try #require(refresh))])
            #expect(refreshed.status == .badRequest)
            #expect((try await app.send(.get, "/v1/me/apps", token: ada).jsonObject()["data"] as? [Any])?.isEmpty == true)
            #expect(try await app.send(.delete, "/v1/me/apps/\(grantID)", token: ada).status == .notFound)
            let audited = try await app.count("SELECT COUNT(*) AS n FROM audit_log WHERE action = 'oauth_grant.revoked'")
            #expect(audited == 1)
        }
    }
}
