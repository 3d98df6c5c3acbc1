import Emporium
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// Checkout and fulfilment change the same stock rows at once. Every path takes stock rows in
/// one order (variant id, then location id), so on PostgreSQL they wait for each other but
/// never deadlock into a 5xx, and the books add up afterwards.
@Suite struct StockLockOrderTests {
    /// Three variants stocked at two locations; paid orders hold all three (lines made in the
    /// reverse of variant order, so line order is not lock order) and are shipped from the
    /// second location, which releases at the first and takes from the second, while new
    /// checkouts of the same three variants reserve.
    @Test func checkoutAndFulfilmentOfOverlappingVariantsNeverFailAndKeepStockConsistent() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, sku: "LOCK-A", stock: 20)
            var skus = [fixture.sku]
            for sku in ["LOCK-B", "LOCK-C"] {
                _ = try await app.createProduct(TestApp.product(handle: sku.lowercased(), sku: sku), token: fixture.admin)
                try await app.receive(20, of: sku, at: fixture.location, token: fixture.admin)
                skus.append(sku)
            }
            let created = try await app.send(
                .post, "/v1/admin/inventory/locations", token: fixture.admin, json: #"{"code":"second","name":"Second"}"#)
            let second = try #require(try created.jsonObject()["id"] as? String)
            for sku in skus { try await app.receive(24, of: sku, at: second, token: fixture.admin) }

            func cartOfAll() async throws -> TestCart {
                let cart = try await app.newCart()
                for sku in skus.reversed() {
                    let added = try await app.cart(cart, .post, "/items", json: #"{"sku":"\#(sku)","quantity":1}"#)
                    guard added.status == .ok else { throw TestFailure("adding \(sku) answered \(added.status): \(added.text)") }
                }
                for (suffix, body) in [
                    ("/email", #"{"email":"shopper@example.com"}"#),
                    ("/shipping-address", #"{"recipient":"Ada Lovelace","line1":"1 Unter den Linden","city":"Berlin","postal_code":"10117","country":"DE"}"#),
                    ("/shipping-method", #"{"shipping_method_id":"\#(fixture.shippingMethod)"}"#),
                ] {
                    let response = try await app.cart(cart, .put, suffix, json: body)
                    guard response.status == .ok else { throw TestFailure("\(suffix) answered \(response.status): \(response.text)") }
                }
                return cart
            }

            // Eight paid orders, each holding one of every variant at the first location.
            var paid: [(id: String, lines: [String])] = []
            for _ in 0..<8 {
                let answer = try await app.checkout(try await cartOfAll())
                #expect(answer.status == .created, "\(answer.text)")
                let order = try answer.jsonObject()
                let lines = try #require(order["lines"] as? [[String: Any]]).compactMap { $0["id"] as? String }
                paid.append((try #require(order["id"] as? String), lines))
            }
            var ready: [TestCart] = []
            for _ in 0..<24 { ready.append(try await cartOfAll()) }

            enum Kind { case checkout, fulfilment }
            let answers = try await withThrowingTaskGroup(of: (Kind, TestResponse).self) { group in
                for cart in ready { group.addTask { (.checkout, try await app.checkout(cart)) } }
                for order in paid {
                    let lines = order.lines.map { #"{"line_id":"\#($0)","quantity":1}"# }.joined(separator: ",")
                    group.addTask {
                        (.fulfilment, try await app.send(
                            .post, "/v1/admin/orders/\(order.id)/fulfillments", token: fixture.admin,
                            json: #"{"location_id":"\#(second)","lines":[\#(lines)]}"#))
                    }
                }
                return try await group.reduce(into: [(Kind, TestResponse)]()) { $0.append($1) }
            }
            // PostgreSQL would retry a deadlocked transaction, hiding it from the answers: none
            // may have happened at all.
            if let postgres = app.database as? PostgresStorage { #expect(postgres.conflictRetries == 0) }
            #expect(answers.allSatisfy { $0.1.status.code < 500 }, "\(answers.filter { $0.1.status.code >= 500 }.map(\.1.text))")
            // 8 + 24 units of each variant fit in 20 + 24: everyone succeeds.
            #expect(answers.filter { $0.0 == .checkout && $0.1.status == .created }.count == 24)
            #expect(answers.filter { $0.0 == .fulfilment && $0.1.status == .created }.count == 8)

            let levels = try await app.database.query("""
                SELECT v.sku, l.location_id, l.on_hand, l.reserved FROM inventory_levels l JOIN variants v ON v.id = l.variant_id
                """)
            #expect(levels.count == 6)
            for level in levels {
                let onHand: Int64 = try level.decode("on_hand")
                let reserved: Int64 = try level.decode("reserved")
                #expect(onHand >= 0 && reserved >= 0 && onHand >= reserved)
            }
            for sku in skus {
                // Shipped units left the shelf; what the open orders still hold is reserved.
                let onHand = try await app.count("""
                    SELECT CAST(SUM(l.on_hand) AS BIGINT) AS n FROM inventory_levels l JOIN variants v ON v.id = l.variant_id
                    WHERE v.sku = \(sku)
                    """)
                let reserved = try await app.count("""
                    SELECT CAST(SUM(l.reserved) AS BIGINT) AS n FROM inventory_levels l JOIN variants v ON v.id = l.variant_id
                    WHERE v.sku = \(sku)
                    """)
                let shipped = try await app.count("""
                    SELECT CAST(COALESCE(SUM(fulfilled_quantity), 0) AS BIGINT) AS n FROM order_lines WHERE sku = \(sku)
                    """)
                let held = try await app.count("""
                    SELECT CAST(COALESCE(SUM(ol.quantity - ol.fulfilled_quantity), 0) AS BIGINT) AS n
                    FROM order_lines ol JOIN orders o ON o.id = ol.order_id
                    WHERE ol.sku = \(sku) AND o.status <> 'cancelled'
                    """)
                #expect(shipped == 8)
                #expect(onHand == 44 - shipped)
                #expect(reserved == held && held == 24)
            }
            // Every level equals the sum of its ledger rows.
            let drift = try await app.database.query("""
                SELECT l.variant_id FROM inventory_levels l
                LEFT JOIN (SELECT variant_id, location_id, SUM(on_hand_delta) AS on_hand, SUM(reserved_delta) AS reserved
                           FROM inventory_movements GROUP BY variant_id, location_id) m
                       ON m.variant_id = l.variant_id AND m.location_id = l.location_id
                WHERE l.on_hand <> COALESCE(m.on_hand, 0) OR l.reserved <> COALESCE(m.reserved, 0)
                """)
            #expect(drift.isEmpty)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders WHERE status = 'fulfilled'") == 8)
        }
    }
}
