@testable import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import Testing

extension TestApp {
    /// on_hand, reserved and the ledger's sums for the fixture's SKU.
    func stock(_ fixture: CommerceFixture) async throws -> (onHand: Int64, reserved: Int64, ledgerOnHand: Int64, ledgerReserved: Int64) {
        try await stock(StockFixture(sku: fixture.sku))
    }

    /// Runs the abandoned-reservation sweep once, as the service would.
    func sweepUnpaidOrders() async throws -> Int {
        try await jobs.sweepUnpaidOrders()
    }
}

extension StockFixture {
    /// A fixture naming a SKU that already exists.
    init(sku: String) {
        staff = ""
        location = ""
        self.sku = sku
    }
}

@Suite struct CheckoutTests {
    @Test func checkoutPlacesAPaidOrderAndReservesStock() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: 10)
            let cart = try await app.readyCart(fixture, quantity: 2)
            let response = try await app.checkout(cart, key: "order-1")
            #expect(response.status == .created, "\(response.text)")
            let order = try response.jsonObject()
            #expect(order["number"] as? String == "#1001")
            #expect(order["status"] as? String == "paid")
            let totals = try #require(order["totals"] as? [String: Any])
            // 2 × 10.00 + 4.90; tax 3.80 + 0.93.
            #expect(totals["total"] as? Int == 2000 + 490 + 380 + 93)
            let payment = try #require(order["payment"] as? [String: Any])
            #expect(payment["captured"] as? Int == 2963 && payment["status"] as? String == "captured")
            let stock = try await app.stock(fixture)
            #expect(stock.onHand == 10 && stock.reserved == 2 && stock.ledgerReserved == 2 && stock.ledgerOnHand == 10)
            #expect(try await app.cart(cart, .get).jsonObject()["status"] as? String == "converted")
            let events = try await app.database.query("SELECT event_type FROM outbox WHERE aggregate_type = 'order' ORDER BY id").map { try $0.decode("event_type", as: String.self) }
            #expect(events == ["order.created", "order.placed", "order.paid"])

            // The same key and body answer the same again (without the guest's access token,
            // which is shown once); another body with it is 422.
            let replay = try await app.checkout(cart, key: "order-1")
            var first = order
            first["access_token"] = nil
            #expect(replay.status == .created)
            #expect(NSDictionary(dictionary: try replay.jsonObject()).isEqual(to: first))
            let reused = try await app.checkout(cart, key: "order-1", token: "tok_mastercard")
            #expect(reused.status == .unprocessableContent)
            // A second cart is the next number.
            let second = try await app.checkout(try await app.readyCart(fixture))
            #expect(try second.jsonObject()["number"] as? String == "#1002")
            // A converted cart cannot be checked out again.
            #expect(try app.problemType(try await app.checkout(cart)) == "urn:emporium:problem:cart-not-open")
        }
    }

    @Test func checkoutRefusesBadRequestsAndChangesNothing() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: 10)
            let cart = try await app.readyCart(fixture)
            try expectInvalidParameter(try await app.checkout(cart, key: nil), "Idempotency-Key")
            try expectInvalidParameter(try await app.checkout(cart, key: String(repeating: "k", count: 256)), "Idempotency-Key")
            let headers: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "k"]
            try expectInvalid(try await app.cart(cart, .post, "/checkout", json: #"{"payment":{"provider":"stripe","token":"x"}}"#, headers: headers), at: "/payment/provider")
            try expectInvalid(try await app.cart(cart, .post, "/checkout", json: #"{"payment":{"provider":"test"}}"#, headers: headers), at: "/payment/token")
            try expectInvalid(try await app.cart(cart, .post, "/checkout", json: #"{"payment":{"provider":"test","token":5}}"#, headers: headers), at: "/payment/token")
            #expect(try await app.cart(cart, .post, "/checkout", json: #"{"payment":"#, headers: headers).status == .badRequest)
            // A stale If-Match and someone else's cart.
            var stale = headers
            stale[.ifMatch] = "\"v1\""
            #expect(try await app.cart(cart, .post, "/checkout", json: #"{"payment":{"provider":"test","token":"tok_visa"}}"#, headers: stale).status == .preconditionFailed)
            #expect(try await app.checkout(TestCart(id: cart.id, secret: "wrong", token: nil)).status == .notFound)
            // A cart without an e-mail says what is missing.
            let bare = try await app.newCart()
            try await app.cart(bare, .post, "/items", json: #"{"sku":"MUG-1","quantity":1}"#)
            let incomplete = try await app.checkout(bare)
            #expect(incomplete.status == .conflict)
            #expect(try incomplete.errorPointers().contains("/email"))
            let stock = try await app.stock(fixture)
            #expect(stock.reserved == 0 && stock.ledgerReserved == 0)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders") == 0)
            #expect(try await app.cart(cart, .get).jsonObject()["status"] as? String == "open")
            // Everything in order, the same cart checks out.
            #expect(try await app.checkout(cart).status == .created)
        }
    }

    @Test(arguments: ["tok_chargeDeclined", "tok_insufficientFunds", "tok_unknown"])
    func aDeclineCancelsTheOrderAndGivesEverythingBack(card: String) async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: 5)
            let staff = try await app.signIn("staff@example.com", as: .staff)
            #expect(try await app.send(.post, "/v1/admin/discounts", token: staff, json: #"{"code":"ONCE","kind":"fixed","amounts":[{"currency":"EUR","amount":100}],"usage_limit":1}"#).status == .created)
            let cart = try await app.readyCart(fixture, quantity: 2)
            #expect(try await app.cart(cart, .put, "/discount-code", json: #"{"code":"ONCE"}"#).status == .ok)
            let declined = try await app.checkout(cart, key: "first", token: card)
            #expect(declined.status.code == 402, "\(declined.text)")
            #expect(declined.headers[.contentType] == "application/problem+json")
            #expect(try app.problemType(declined) == "urn:emporium:problem:payment-declined")
            let stock = try await app.stock(fixture)
            #expect(stock.reserved == 0 && stock.ledgerReserved == 0)
            #expect(try await app.count("SELECT times_used AS n FROM discounts") == 0)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders WHERE status = 'cancelled'") == 1)
            // The key answers the decline again; a new key may try another card.
            #expect(try await app.checkout(cart, key: "first", token: card).status.code == 402)
            let retried = try await app.checkout(cart, key: "second", token: "tok_visa")
            #expect(retried.status == .created, "\(retried.text)")
            #expect(try retried.jsonObject()["discount_code"] as? String == "ONCE")
            #expect(try await app.stock(fixture).reserved == 2)
        }
    }

    @Test func anUnconfirmedPaymentReleasesItsStockAfterTheTimeout() async throws {
        try await withApp(configure: { $0.encryptionKeyFile = TestDatabase.encryptionKeyFile }) { app in
            let fixture = try await CommerceFixture(app, stock: 5)
            let cart = try await app.readyCart(fixture, quantity: 3)
            let timedOut = try await app.checkout(cart, token: "tok_timeout")
            #expect(timedOut.status == .gatewayTimeout)
            #expect(try app.problemType(timedOut) == "urn:emporium:problem:payment-timeout")
            #expect(try await app.stock(fixture).reserved == 3)
            #expect(try await app.sweepUnpaidOrders() == 0)
            app.clock.advance(by: 14 * 60)
            #expect(try await app.sweepUnpaidOrders() == 0)
            app.clock.advance(by: 2 * 60)
            #expect(try await app.sweepUnpaidOrders() == 1)
            let stock = try await app.stock(fixture)
            #expect(stock.reserved == 0 && stock.ledgerReserved == 0)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders WHERE status = 'cancelled' AND cancel_reason = 'payment_not_authorized'") == 1)
            #expect(try await app.checkout(cart).status == .created)
        }
    }

    @Test func aPriceChangeStopsCheckoutAndUpdatesTheCart() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: 5)
            let cart = try await app.readyCart(fixture)
            let product = try await app.send(.get, "/v1/products/mug-1", token: nil)
            let productID = try #require(try product.jsonObject()["id"] as? String)
            let repriced = try await app.send(
                .patch, "/v1/admin/products/\(productID)/variants/\(fixture.variantID)", token: fixture.admin,
                json: #"{"prices":[{"currency":"EUR","amount":1200}]}"#)
            #expect(repriced.status == .ok, "\(repriced.text)")
            let refused = try await app.checkout(cart)
            #expect(try app.problemType(refused) == "urn:emporium:problem:price-changed")
            #expect(try await app.stock(fixture).reserved == 0)
            let items = try await app.cart(cart, .get).jsonObject()["items"] as? [[String: Any]]
            #expect(items?.first?["unit_price"] as? Int == 1200)
            let placed = try await app.checkout(cart)
            #expect((try placed.jsonObject()["totals"] as? [String: Any])?["subtotal"] as? Int == 1200)
        }
    }

    @Test func taxIncludedCurrenciesCarryTheirTaxInside() async throws {
        try await withApp(configure: { $0.taxIncludedCurrencies = ["EUR"] }) { app in
            let fixture = try await CommerceFixture(app)
            let placed = try await app.checkout(try await app.readyCart(fixture, quantity: 2))
            let totals = try #require(try placed.jsonObject()["totals"] as? [String: Any])
            // 20.00 gross holds 3.19 (3.193…), 4.90 holds 0.78 (0.782…).
            #expect(totals["total"] as? Int == 2490)
            #expect(totals["tax"] as? Int == 319 + 78)
            #expect(totals["tax_included"] as? Bool == true)
        }
    }

    func expectInvalidParameter(_ response: TestResponse, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(response.status == .badRequest, sourceLocation: sourceLocation)
        let parameters = (try response.jsonObject()["errors"] as? [[String: Any]] ?? []).compactMap { $0["parameter"] as? String }
        #expect(parameters.contains(name), "\(response.text)", sourceLocation: sourceLocation)
    }
}
