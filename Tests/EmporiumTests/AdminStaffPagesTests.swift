@testable import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// The admins' page of staff and API keys.
@Suite struct AdminStaffPagesTests {
    @Test func adminsSeeStaffAndRevokeKeysWhileStaffAreRefused() async throws {
        try await withApp { app in
            let admin = try await AdminTestBrowser.signedIn(app, "boss@example.com", as: .admin, name: "Boss")
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff, name: "Sam")
            let token = try await app.signIn("keys@example.com", as: .admin)
            _ = try await app.createAPIKey(scopes: [.ordersRead, .catalogRead], name: "<b>Warehouse</b>", adminToken: token)
            let keyID = try #require(try await app.database.queryFirst("SELECT id FROM api_keys")?.decode("id", as: String.self))

            // The link is shown to admins only, and the page and its action refuse staff.
            #expect(try await admin.get("/admin").text.contains("href=\"/admin/staff\""))
            #expect(!(try await staff.get("/admin").text.contains("href=\"/admin/staff\"")))
            let refused = try await staff.get("/admin/staff")
            #expect(refused.status == .forbidden && refused.text.contains("Your role does not allow this page or action."))
            #expect(try await staff.post("/admin/api-keys/\(keyID)/revoke", [("confirm", "yes")]).status == .forbidden)
            #expect(try await app.database.queryFirst("SELECT revoked_at FROM api_keys")?.decode("revoked_at", as: String?.self) == nil)

            let page = try await admin.get("/admin/staff")
            #expect(page.status == .ok)
            #expect(page.text.contains("<td>Sam</td><td>staff@example.com</td><td>staff</td>"))
            #expect(page.text.contains("&lt;b&gt;Warehouse&lt;/b&gt;") && page.text.contains("catalog:read, orders:read"))
            // Unconfirmed: back to the page, nothing revoked.
            #expect(try await admin.post("/admin/api-keys/\(keyID)/revoke").headers[.location] == "/admin/staff")
            #expect(try await admin.get("/admin/staff").text.contains("Tick the box to confirm"))
            #expect(try await admin.post("/admin/api-keys/\(keyID)/revoke", [("confirm", "yes")]).status == .seeOther)
            let revoked = try await admin.get("/admin/staff")
            #expect(revoked.text.contains("is revoked.") && revoked.text.contains("revoked 20"))
            #expect(try await app.database.queryFirst("SELECT revoked_at FROM api_keys")?.decode("revoked_at", as: String?.self) != nil)
            let audited = try await app.database.query("SELECT actor_id FROM audit_log WHERE action = 'api_key.revoked'")
            #expect(audited.count == 1)
            #expect(try await admin.post("/admin/api-keys/0193a1b2-0000-7000-8000-000000000000/revoke", [("confirm", "yes")]).status == .seeOther)
            #expect(try await admin.get("/admin/staff").text.contains("There is no API key with this id."))
        }
    }
}
