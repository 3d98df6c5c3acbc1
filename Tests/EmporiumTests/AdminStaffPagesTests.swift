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
            // A live key has its revoke form, and is not called revoked.
            #expect(page.text.contains("action=\"/admin/api-keys/\(keyID)/revoke\"") && !page.text.contains(">revoked"))
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

    @Test func adminsAddStaffAndChangeRolesButNeverLoseTheLastAdmin() async throws {
        try await withApp { app in
            let admin = try await AdminTestBrowser.signedIn(app, "boss@example.com", as: .admin, name: "Boss")
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff, name: "Sam")
            let bossID = try #require(try await app.database.queryFirst("SELECT id FROM users WHERE email = 'boss@example.com'")?
                .decode("id", as: String.self))
            let samID = try #require(try await app.database.queryFirst("SELECT id FROM users WHERE email = 'staff@example.com'")?
                .decode("id", as: String.self))
            func role(_ email: String) async throws -> String? {
                try await app.database.queryFirst("SELECT role FROM users WHERE email = \(email)")?.decode("role", as: String.self)
            }

            // Staff may do neither.
            #expect(try await staff.post("/admin/staff/\(samID)/role", [("role", "admin"), ("confirm", "yes")]).status == .forbidden)
            #expect(try await staff.post("/admin/staff", [
                ("name", "Eve"), ("email", "eve@example.com"), ("role", "admin"), ("password", "correct horse battery"),
            ]).status == .forbidden)
            #expect(try await role("staff@example.com") == "staff")
            #expect(try await role("eve@example.com") == nil)

            // A new member with the API's rules: a short password is refused, a good form adds them.
            _ = try await admin.get("/admin/staff")
            _ = try await admin.post("/admin/staff", [("name", "Kim"), ("email", "kim@example.com"), ("role", "staff"), ("password", "short")])
            #expect(try await admin.get("/admin/staff").text.contains("password: must be 12 to 128 characters"))
            let added = try await admin.post("/admin/staff", [
                ("name", "<b>Kim</b>"), ("email", "Kim@Example.com"), ("role", "staff"), ("password", "correct horse battery"),
            ])
            #expect(added.status == .seeOther)
            let page = try await admin.get("/admin/staff").text
            #expect(page.contains("&lt;b&gt;Kim&lt;/b&gt; &lt;kim@example.com&gt; can sign in as staff."))
            #expect(try await role("kim@example.com") == "staff")
            let login = try await app.send(.post, "/v1/auth/login", token: nil, json: #"{"email":"kim@example.com","password":"correct horse battery"}"#)
            #expect(login.status == .ok)

            // A role change asks first, then applies at once.
            #expect(try await admin.post("/admin/staff/\(samID)/role", [("role", "admin")]).status == .seeOther)
            #expect(try await role("staff@example.com") == "staff")
            #expect(try await admin.post("/admin/staff/\(samID)/role", [("role", "customer"), ("confirm", "yes")]).status == .seeOther)
            #expect(try await role("staff@example.com") == "customer")
            // A customer has no back-office session: Sam is sent to sign in at once.
            let demoted = try await staff.get("/admin/orders")
            #expect(demoted.status == .seeOther && demoted.headers[.location]?.hasPrefix("/admin/sign-in") == true)

            // The only admin cannot demote themselves.
            _ = try await admin.post("/admin/staff/\(bossID)/role", [("role", "staff"), ("confirm", "yes")])
            #expect(try await admin.get("/admin/staff").text.contains("This is the only administrator"))
            #expect(try await role("boss@example.com") == "admin")
            let audited = try await app.database.query("SELECT action FROM audit_log WHERE action IN ('staff.created', 'user.role_changed')")
            #expect(audited.count == 2)
        }
    }

    @Test func aRoleChangeForNoSuchUserIsNotFoundAndChangesNothing() async throws {
        try await withApp { app in
            let admin = try await AdminTestBrowser.signedIn(app, "boss@example.com", as: .admin, name: "Boss")
            _ = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff, name: "Sam")
            func roles() async throws -> [String] {
                try await app.database.query("SELECT email, role FROM users ORDER BY email").map {
                    try $0.decode("email", as: String.self) + " " + $0.decode("role", as: String.self)
                }
            }
            let before = try await roles()
            _ = try await admin.get("/admin/staff")

            // An id that names nobody, and one that is not an id at all: back to the page with
            // the message, as for any other refused form.
            for id in ["0193a1b2-0000-7000-8000-000000000000", "nobody"] {
                let answer = try await admin.post("/admin/staff/\(id)/role", [("role", "admin"), ("confirm", "yes")])
                #expect(answer.status == .seeOther && answer.headers[.location] == "/admin/staff")
                #expect(try await admin.get("/admin/staff").text.contains("There is no user with this id."))
            }
            #expect(try await roles() == before)
            #expect(try await app.database.query("SELECT id FROM audit_log WHERE action = 'user.role_changed'").isEmpty)
        }
    }
}
