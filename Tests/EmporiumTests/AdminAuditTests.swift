import Emporium
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite struct AdminAuditTests {
    @Test func adminsReadTheAuditLogByActionAndPage() async throws {
        try await withApp { app in
            let admin = try await AdminTestBrowser.signedIn(app, "admin@example.com", as: .admin)
            let api = try await app.signIn("api-admin@example.com", as: .admin)
            try await app.createProduct(TestApp.product(handle: "linen-shirt", title: "<script>x</script>"), token: api)
            _ = try await app.post("/v1/auth/login", json: #"{"email":"<i>nobody</i>@example.com","password":"wrong password!"}"#)

            let log = try await admin.get("/admin/audit-log")
            #expect(log.status == .ok)
            #expect(log.text.contains("product.created") && log.text.contains("login.failed"))
            #expect(!log.text.contains("<i>nobody") && log.text.contains("&lt;i&gt;nobody"))
            let filtered = try await admin.get("/admin/audit-log?action=product.created")
            #expect(filtered.text.contains("product.created") && !filtered.text.contains("login.failed"))
            let first = try await admin.get("/admin/audit-log?limit=1")
            let next = try #require(first.text.range(of: "href=\"/admin/audit-log?cursor=").map { range in
                String(first.text[range.lowerBound...].dropFirst(6).prefix { $0 != "\"" })
            })
            let second = try await admin.get(next + "&limit=1")
            #expect(second.status == .ok && second.text.contains("<tbody>\n<tr>"))
            #expect(try await admin.get("/admin/audit-log?cursor=forged").status == .badRequest)
        }
    }

    @Test func staffWithoutTheAdminRoleAreRefused() async throws {
        try await withApp { app in
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let refused = try await staff.get("/admin/audit-log")
            #expect(refused.status == .forbidden)
            #expect(!refused.text.contains("user.registered"))
            // The navigation offers only what the member may open.
            let products = try await staff.get("/admin/products")
            #expect(!products.text.contains("href=\"/admin/audit-log\""))
            #expect(products.text.contains("href=\"/admin/inventory\""))
        }
    }
}
