import Emporium
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// The invariants that make a shop trustworthy, under many clients at once, through HTTP, on
/// both databases.
@Suite struct CheckoutConcurrencyTests {
    @Test func fiftyCartsCompeteForFiveUnitsAndExactlyFiveWin() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: 5)
            var carts: [TestCart] = []
            for _ in 0..<50 { carts.append(try await app.readyCart(fixture)) }
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for cart in carts { group.addTask { try await app.checkout(cart) } }
                return try await group.reduce(into: [TestResponse]()) { $0.append($1) }
            }
            #expect(answers.filter { $0.status == .created }.count == 5)
            let refused = answers.filter { $0.status == .conflict }
            #expect(refused.count == 45)
            #expect(try refused.allSatisfy { try app.problemType($0) == "urn:emporium:problem:out-of-stock" })
            let stock = try await app.stock(fixture)
            #expect(stock.onHand == 5 && stock.reserved == 5)
            #expect(stock.onHand - stock.reserved >= 0)
            #expect(stock.ledgerOnHand == stock.onHand && stock.ledgerReserved == stock.reserved)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders") == 5)
            // The losers' carts are untouched and still open.
            #expect(try await app.count("SELECT COUNT(*) AS n FROM carts WHERE status = 'open'") == 45)
        }
    }

    @Test func twentyRetriesOfOneCheckoutMakeOneOrderAndOneAuthorization() async throws {
        let provider = TestPaymentProvider()
        try await withApp(configure: { $0.testPayments = false }, paymentProviders: [provider]) { app in
            let fixture = try await CommerceFixture(app, stock: 10)
            let cart = try await app.readyCart(fixture)
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<20 { group.addTask { try await app.checkout(cart, key: "one-click") } }
                return try await group.reduce(into: [TestResponse]()) { $0.append($1) }
            }
            let created = answers.filter { $0.status == .created }
            #expect(!created.isEmpty)
            // Every success is the same order (the first with the guest's access token, shown
            // once); the rest were told the first is still running.
            #expect(Set(try created.map { try $0.jsonObject()["id"] as? String }).count == 1)
            #expect(created.filter { $0.text.contains("access_token") }.count == 1)
            #expect(answers.allSatisfy { $0.status == .created || $0.status == .conflict })
            #expect(try answers.filter { $0.status == .conflict }.allSatisfy {
                try app.problemType($0) == "urn:emporium:problem:idempotency-key-in-use"
            })
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders") == 1)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM payments WHERE authorized > 0") == 1)
            #expect(provider.authorizationCount == 1)
            #expect(try await app.stock(fixture).reserved == 1)
        }
    }

    @Test func aCodeLimitedToThreeUsesIsUsedThreeTimes() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: 100)
            #expect(try await app.send(.post, "/v1/admin/discounts", token: fixture.admin, json: #"{"code":"THREE","kind":"percentage","percentage_ppm":200000,"usage_limit":3}"#).status == .created)
            var carts: [TestCart] = []
            for index in 0..<20 {
                let cart = try await app.readyCart(fixture, email: "shopper\(index)@example.com")
                #expect(try await app.cart(cart, .put, "/discount-code", json: #"{"code":"THREE"}"#).status == .ok)
                carts.append(cart)
            }
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for cart in carts { group.addTask { try await app.checkout(cart) } }
                return try await group.reduce(into: [TestResponse]()) { $0.append($1) }
            }
            #expect(answers.filter { $0.status == .created }.count == 3)
            #expect(try answers.filter { $0.status != .created }.allSatisfy { try app.problemType($0) == "urn:emporium:problem:discount-not-applicable" })
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders WHERE discount_code = 'THREE'") == 3)
            #expect(try await app.count("SELECT times_used AS n FROM discounts") == 3)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM discount_redemptions") == 3)
            #expect(try await app.stock(fixture).reserved == 3)
        }
    }

    @Test func aCodeLimitedToOneUsePerCustomerHoldsUnderConcurrency() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: 100)
            #expect(try await app.send(.post, "/v1/admin/discounts", token: fixture.admin, json: #"{"code":"WELCOME","kind":"fixed","amounts":[{"currency":"EUR","amount":300}],"per_customer_limit":1}"#).status == .created)
            // One guest shopper with ten carts under the same e-mail address.
            var carts: [TestCart] = []
            for _ in 0..<10 {
                let cart = try await app.readyCart(fixture, email: "same@example.com")
                try await app.cart(cart, .put, "/discount-code", json: #"{"code":"WELCOME"}"#)
                carts.append(cart)
            }
            let answers = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for cart in carts { group.addTask { try await app.checkout(cart).status } }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(answers.filter { $0 == .created }.count == 1)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM discount_redemptions") == 1)
        }
    }

    @Test func tenConcurrentCancelsOfOneOrderCancelItOnce() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: 10)
            let customer = try await app.signIn("c@example.com", as: .customer)
            let id = try #require(try await app.placeOrder(fixture, customer: customer)["id"] as? String)
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<10 { group.addTask { try await app.send(.post, "/v1/orders/\(id)/cancel", token: customer) } }
                return try await group.reduce(into: [TestResponse]()) { $0.append($1) }
            }
            #expect(answers.filter { $0.status == .ok }.count == 1)
            #expect(try answers.filter { $0.status != .ok }.allSatisfy {
                try ["urn:emporium:problem:order-not-cancellable", "urn:emporium:problem:order-changed"].contains(app.problemType($0))
            })
            // Stock came back once, the money was refunded once.
            let stock = try await app.stock(fixture)
            #expect(stock.reserved == 0 && stock.ledgerReserved == 0 && stock.onHand == 10)
            #expect(try await app.count("SELECT refunded AS n FROM payments") == 2963)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM refunds") == 1)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM outbox WHERE event_type = 'order.cancelled'") == 1)
        }
    }

    @Test func concurrentCapturesTakeTheMoneyOnce() async throws {
        try await withApp(configure: { $0.paymentCapture = .manual }) { app in
            let fixture = try await CommerceFixture(app)
            let id = try #require(try await app.placeOrder(fixture)["id"] as? String)
            let answers = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<10 { group.addTask { try await app.send(.post, "/v1/admin/orders/\(id)/capture", token: fixture.admin).status } }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(answers.contains(.ok))
            #expect(answers.allSatisfy { $0 == .ok || $0 == .conflict })
            #expect(try await app.count("SELECT captured AS n FROM payments") == 2963)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM outbox WHERE event_type = 'order.paid'") == 1)
            #expect(try await app.send(.get, "/v1/admin/orders/\(id)", token: fixture.admin).jsonObject()["status"] as? String == "paid")
        }
    }

    @Test func tenConcurrentRefundsNeverExceedWhatWasCaptured() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app)
            let id = try #require(try await app.placeOrder(fixture)["id"] as? String)
            // 10 × 4.00 asked against 29.63 captured: at most seven can be paid out.
            let answers = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<10 { group.addTask { try await app.refund(id, amount: 400, token: fixture.admin).status } }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(answers.filter { $0 == .created }.count == 7)
            #expect(answers.filter { $0 == .conflict }.count == 3)
            let payment = try #require(try await app.database.queryFirst("SELECT captured, refunded FROM payments"))
            let captured: Int64 = try payment.decode("captured")
            let refunded: Int64 = try payment.decode("refunded")
            #expect(refunded == 2800 && refunded <= captured)
            #expect(try await app.count("SELECT CAST(SUM(amount) AS BIGINT) AS n FROM refunds WHERE status = 'succeeded'") == 2800)
        }
    }
}
