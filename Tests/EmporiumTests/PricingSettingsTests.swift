@testable import Emporium
import EmporiumStorage
import Foundation
import HTTPTypes
import Testing

/// Tax rates and shipping methods are priced from memory, yet a change made anywhere (another
/// node, or SQL straight to the database, which nothing in this process hears of) is priced by
/// the next cart read: the database moves the settings' generation in the change's own
/// transaction, and the cart is read together with it.
@Suite struct PricingSettingsTests {
    @Test func aChangeMadeBehindTheServersBackIsPricedByTheNextRead() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app)
            let cart = try await app.readyCart(fixture)
            func totals() async throws -> (shipping: Int?, tax: Int?) {
                let object = try await app.cart(cart, .get).jsonObject()
                let totals = try #require(object["totals"] as? [String: Any])
                return (totals["shipping"] as? Int, totals["tax"] as? Int)
            }
            func generation() async throws -> Int64 {
                try #require(try await app.database.queryFirst("SELECT generation FROM settings_generation")?.decode("generation"))
            }
            let first = try await totals()
            #expect(first.shipping == 490)
            #expect(first.tax == 283)  // 19 % of 10.00 + 4.90
            // Read again without a change: the same figures, and the generation stands still.
            let standing = try await generation()
            #expect(try await totals() == first)
            #expect(try await generation() == standing)

            try await app.database.execute("UPDATE shipping_methods SET flat_amount = 990")
            try await app.database.execute("UPDATE tax_rates SET rate_ppm = 70000")
            #expect(try await generation() == standing + 2)
            let changed = try await totals()
            #expect(changed.shipping == 990)
            #expect(changed.tax == 139)  // 7 % of 10.00 + 9.90
            let order = try await app.checkout(cart).jsonObject()
            let charged = try #require(order["totals"] as? [String: Any])
            #expect(charged["tax"] as? Int == 139 && charged["shipping"] as? Int == 990)

            // A rate deleted, a method inserted: both seen by the next read.
            let another = try await app.readyCart(fixture, email: "second@example.com")
            try await app.database.execute("DELETE FROM tax_rates")
            #expect(try await app.cart(another, .get).jsonObject()["totals"].flatMap { ($0 as? [String: Any])?["tax"] as? Int } == 0)
            #expect(try await generation() == standing + 3)
        }
    }
}
