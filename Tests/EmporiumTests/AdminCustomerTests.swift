import Emporium
import EmporiumClient
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite struct AdminCustomerTests {
    @Test func staffFindCustomersByEmailAndSeeTheirOrders() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app)
            let ada = try await app.register("ada@example.com", name: "<script>Ada</script>")
            _ = try await app.register("bob@example.com", name: "Bob")
            let cart = try await app.readyCart(fixture, token: ada.accessToken, email: "ada@example.com")
            let order = try await app.checkout(cart).jsonObject()
            let orderID = try #require(order["id"] as? String)
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let api = try await app.signIn("api-staff@example.com", as: .admin)

            let all = try await staff.get("/admin/customers")
            #expect(all.status == .ok)
            #expect(all.text.contains("ada@example.com") && all.text.contains("bob@example.com"))
            #expect(!all.text.contains("staff@example.com"))
            #expect(!all.text.contains("<script>") && all.text.contains("&lt;script&gt;Ada"))
            let found = try await staff.get("/admin/customers?email=AD")
            #expect(found.text.contains("ada@example.com") && !found.text.contains("bob@example.com"))
            let wildcard = try await staff.get("/admin/customers?email=%25")
            #expect(!wildcard.text.contains("ada@example.com"))

            let detail = try await staff.get("/admin/customers/\(ada.user.id)")
            #expect(detail.status == .ok)
            #expect(detail.text.contains("href=\"/admin/orders/\(orderID)\""))
            #expect(detail.text.contains(">#1001</a>"))  // the shop's first order
            let staffUser = try await app.send(.get, "/v1/me", token: api).jsonObject()["id"] as? String
            #expect(try await staff.get("/admin/customers/\(staffUser ?? "")").status == .notFound)

            let paged = try await staff.get("/admin/customers?limit=1")
            #expect(paged.text.contains("rel=\"next\""))
        }
    }
}
