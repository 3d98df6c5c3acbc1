import Emporium
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite struct AdminInventoryTests {
    @Test func staffSeeLevelsAdjustWithAReasonAndReadTheMovements() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, sku: "MUG-1", stock: 10)
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let api = try await app.signIn("api-staff@example.com", as: .admin)
            let levels = try await staff.get("/admin/inventory")
            #expect(levels.status == .ok && levels.text.contains("MUG-1"))
            let low = try await staff.get("/admin/inventory?low=true")
            #expect(low.status == .ok && !low.text.contains(">MUG-1<"))

            let page = "/admin/inventory/variants/\(fixture.variantID)"
            let variant = try await staff.get(page)
            #expect(variant.status == .ok)
            #expect(variant.text.contains("<td class=\"num\">10</td>"))
            #expect(variant.text.contains("received"))

            let taken = try await staff.submit(
                page + "/adjustments",
                ["location_id": fixture.location, "mode": "delta", "quantity": "-3", "reason": "damaged", "reference": "Dropped <box>"],
                from: page)
            #expect(taken.status == .seeOther)
            let after = try await staff.follow(taken)
            #expect(after.text.contains("Stock of MUG-1 adjusted: 7 on hand, 7 available."))
            #expect(after.text.contains("Dropped &lt;box&gt;"))
            let counted = try await staff.submit(
                page + "/adjustments", ["location_id": fixture.location, "mode": "count", "quantity": "20", "reason": "count"], from: page)
            #expect(counted.status == .seeOther)
            let json = try await app.send(.get, "/v1/admin/inventory?sku=MUG-1", token: api).jsonObject()
            #expect((json["data"] as? [[String: Any]])?.first?["on_hand"] as? Int == 20)
            let audits = try await app.audited("inventory.adjusted")
            #expect(audits.count == 3)  // the fixture's delivery and the two here
            #expect(audits.last?.target == "MUG-1@\(fixture.location)")

            // The API's rules refuse what they refuse there: below zero, an unknown reason.
            for (fields, message) in [
                (["mode": "delta", "quantity": "-100", "reason": "lost"], "cannot fall below zero"),
                (["mode": "delta", "quantity": "1", "reason": "gift"], "must be one of"),
                (["mode": "delta", "quantity": "many", "reason": "lost"], "must be a whole number"),
            ] {
                var form = fields
                form["location_id"] = fixture.location
                let refused = try await staff.submit(page + "/adjustments", form, from: page)
                #expect(refused.status == .unprocessableContent, "\(fields)")
                #expect(refused.text.contains(message), "\(fields): \(refused.text)")
            }
            let still = try await app.send(.get, "/v1/admin/inventory?sku=MUG-1", token: api).jsonObject()
            #expect((still["data"] as? [[String: Any]])?.first?["on_hand"] as? Int == 20)

            let forged = try await staff.submit(
                page + "/adjustments", ["location_id": fixture.location, "mode": "delta", "quantity": "5", "reason": "received"],
                csrf: "forged")
            #expect(forged.status == .forbidden)
            #expect(try await app.audited("inventory.adjusted").count == 3)

            // Movements page with the API's cursor.
            let first = try await staff.get(page + "?limit=2")
            #expect(first.text.contains("rel=\"next\""))
            #expect(try await staff.get("/admin/inventory/variants/0193a1b2-0000-7000-8000-000000000000").status == .notFound)
        }
    }
}
