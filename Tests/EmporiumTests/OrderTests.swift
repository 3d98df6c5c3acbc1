import Emporium
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

extension TestApp {
    /// Places an order for a customer (or a guest) and returns its JSON.
    func placeOrder(_ fixture: CommerceFixture, quantity: Int = 2, customer: String? = nil) async throws -> [String: Any] {
        let response = try await checkout(try await readyCart(fixture, quantity: quantity, token: customer))
        guard response.status == .created else { throw TestFailure("checkout answered \(response.status): \(response.text)") }
        return try response.jsonObject()
    }

    @discardableResult
    func refund(_ orderID: String, amount: Int, key: String = UUID().uuidString, token: String) async throws -> TestResponse {
        try await send(
            .post, "/v1/admin/orders/\(orderID)/refunds", token: token, json: #"{"amount":\#(amount),"reason":"damaged"}"#,
            headers: [HTTPField.Name("Idempotency-Key")!: key])
    }
}

@Suite struct OrderTests {
    @Test func manualCaptureLeavesOrdersAuthorizedUntilStaffCapture() async throws {
        try await withApp(configure: { $0.paymentCapture = .manual }) { app in
            let fixture = try await CommerceFixture(app)
            let order = try await app.placeOrder(fixture)
            let id = try #require(order["id"] as? String)
            #expect(order["status"] as? String == "authorized")
            #expect((order["payment"] as? [String: Any])?["captured"] as? Int == 0)
            // Nothing captured, nothing to refund.
            #expect(try await app.refund(id, amount: 100, token: fixture.admin).status == .conflict)
            let captured = try await app.send(.post, "/v1/admin/orders/\(id)/capture", token: fixture.admin)
            #expect(captured.status == .ok, "\(captured.text)")
            #expect(try captured.jsonObject()["status"] as? String == "paid")
            // Capturing again changes nothing.
            let again = try await app.send(.post, "/v1/admin/orders/\(id)/capture", token: fixture.admin)
            #expect(try again.jsonObject()["status"] as? String == "paid")
            #expect((try again.jsonObject()["payment"] as? [String: Any])?["captured"] as? Int == 2963)
        }
    }

    @Test func refundsNeverExceedWhatWasCaptured() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app)
            let id = try #require(try await app.placeOrder(fixture)["id"] as? String)
            let partial = try await app.refund(id, amount: 500, key: "r1", token: fixture.admin)
            #expect(partial.status == .created, "\(partial.text)")
            #expect(try await app.refund(id, amount: 500, key: "r1", token: fixture.admin).text == partial.text)
            let tooMuch = try await app.refund(id, amount: 2500, token: fixture.admin)
            #expect(tooMuch.status == .conflict)
            #expect(try app.problemType(tooMuch) == "urn:emporium:problem:refund-exceeds-captured")
            #expect(try await app.send(.get, "/v1/admin/orders/\(id)", token: fixture.admin).jsonObject()["status"] as? String == "partially_refunded")
            #expect(try await app.refund(id, amount: 2463, token: fixture.admin).status == .created)
            let order = try await app.send(.get, "/v1/admin/orders/\(id)", token: fixture.admin).jsonObject()
            #expect(order["status"] as? String == "refunded")
            #expect((order["payment"] as? [String: Any])?["refunded"] as? Int == 2963)
            try expectInvalid(try await app.refund(id, amount: 0, token: fixture.admin), at: "/amount")
            try expectInvalid(try await app.refund(id, amount: -5, token: fixture.admin), at: "/amount")
            #expect(try await app.send(.post, "/v1/admin/orders/\(id)/refunds", token: fixture.admin, json: #"{"amount":5}"#).status == .badRequest)
        }
    }

    @Test func customersSeeAndCancelOnlyTheirOwnOrders() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: 10)
            let customer = try await app.signIn("c@example.com", as: .customer)
            let other = try await app.signIn("o@example.com", as: .customer)
            let id = try #require(try await app.placeOrder(fixture, customer: customer)["id"] as? String)
            _ = try await app.placeOrder(fixture, customer: other)
            let mine = try await app.send(.get, "/v1/orders", token: customer).jsonObject()["data"] as? [[String: Any]]
            #expect(mine?.map { $0["id"] as? String } == [id])
            #expect(try await app.send(.get, "/v1/orders/\(id)", token: other).status == .notFound)
            #expect(try await app.send(.post, "/v1/orders/\(id)/cancel", token: other).status == .notFound)
            #expect(try await app.send(.get, "/v1/orders/\(id)", token: nil).status == .unauthorized)
            // Ids that name nothing, or nothing well-formed, are 404 for staff too.
            let unknown = UUID().uuidString.lowercased()
            for path in ["/v1/admin/orders/\(unknown)", "/v1/admin/orders/not-an-id", "/v1/orders/\(unknown)"] {
                let token = path.hasPrefix("/v1/admin") ? fixture.admin : customer
                #expect(try await app.send(.get, path, token: token).status == .notFound, "\(path)")
            }
            #expect(try await app.refund(unknown, amount: 1, token: fixture.admin).status == .notFound)
            #expect(try await app.send(.post, "/v1/admin/orders/\(unknown)/capture", token: fixture.admin).status == .notFound)

            let cancelled = try await app.send(.post, "/v1/orders/\(id)/cancel", token: customer)
            #expect(cancelled.status == .ok, "\(cancelled.text)")
            let order = try cancelled.jsonObject()
            #expect(order["status"] as? String == "cancelled")
            // It was captured, so cancelling refunded it in full.
            #expect((order["payment"] as? [String: Any])?["refunded"] as? Int == 2963)
            let stock = try await app.stock(fixture)
            #expect(stock.reserved == 2 && stock.ledgerReserved == 2)
            #expect(try app.problemType(try await app.send(.post, "/v1/orders/\(id)/cancel", token: customer)) == "urn:emporium:problem:order-not-cancellable")
        }
    }

    @Test func fulfilmentTakesStockOffTheShelfAndMovesTheStatus() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: 10)
            let order = try await app.placeOrder(fixture, quantity: 3)
            let id = try #require(order["id"] as? String)
            let line = try #require((order["lines"] as? [[String: Any]])?.first?["id"] as? String)
            func fulfil(_ quantity: Int) async throws -> TestResponse {
                try await app.send(
                    .post, "/v1/admin/orders/\(id)/fulfillments", token: fixture.admin,
                    json: #"{"location_id":"\#(fixture.location)","lines":[{"line_id":"\#(line)","quantity":\#(quantity)}],"carrier":"DHL","tracking_number":"JD0001"}"#)
            }
            let first = try await fulfil(1)
            #expect(first.status == .created, "\(first.text)")
            #expect(try first.jsonObject()["order_status"] as? String == "partially_fulfilled")
            var stock = try await app.stock(fixture)
            #expect(stock.onHand == 9 && stock.reserved == 2 && stock.ledgerOnHand == 9 && stock.ledgerReserved == 2)
            #expect(try await fulfil(3).status == .conflict)
            #expect(try await fulfil(2).status == .created)
            stock = try await app.stock(fixture)
            #expect(stock.onHand == 7 && stock.reserved == 0 && stock.ledgerReserved == 0)
            let read = try await app.send(.get, "/v1/admin/orders/\(id)", token: fixture.admin).jsonObject()
            #expect(read["status"] as? String == "fulfilled")
            #expect((read["lines"] as? [[String: Any]])?.first?["fulfilled_quantity"] as? Int == 3)
            #expect(try await app.send(.post, "/v1/admin/orders/\(id)/cancel", token: fixture.admin).status == .conflict)
            try expectInvalid(try await app.send(.post, "/v1/admin/orders/\(id)/fulfillments", token: fixture.admin, json: #"{"lines":[]}"#), at: "/location_id")
        }
    }

    @Test func staffFilterOrdersAndReadTheSalesReport() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: 20)
            let first = try await app.placeOrder(fixture)
            _ = try await app.placeOrder(fixture, quantity: 1)
            #expect(try await app.refund(first["id"] as! String, amount: 463, token: fixture.admin).status == .created)
            let byNumber = try await app.send(.get, "/v1/admin/orders?number=%231001", token: fixture.admin).jsonObject()["data"] as? [[String: Any]]
            #expect(byNumber?.map { $0["number"] as? String } == ["#1001"])
            let paid = try await app.send(.get, "/v1/admin/orders?status=paid", token: fixture.admin).jsonObject()["data"] as? [[String: Any]]
            #expect(paid?.count == 1)
            #expect(try await app.send(.get, "/v1/admin/orders?status=lost", token: fixture.admin).status == .badRequest)
            #expect(try await app.send(.get, "/v1/admin/orders?from=yesterday", token: fixture.admin).status == .badRequest)

            let report = try await app.send(.get, "/v1/admin/reports/sales?interval=month", token: fixture.admin)
            #expect(report.status == .ok, "\(report.text)")
            let bucket = try #require((try report.jsonObject()["buckets"] as? [[String: Any]])?.first)
            // 29.63 and 10.00 + 4.90 + 1.90 + 0.93 = 17.73.
            #expect(bucket["orders"] as? Int == 2)
            #expect(bucket["gross_revenue"] as? Int == 2963 + 1773)
            #expect(bucket["refunds"] as? Int == 463)
            #expect(bucket["net_revenue"] as? Int == 2963 + 1773 - 463)
            #expect(bucket["average_order_value"] as? Int == (2963 + 1773) / 2)
            #expect(try await app.send(.get, "/v1/admin/reports/sales?interval=year", token: fixture.admin).status == .badRequest)
        }
    }

    @Test func soldProductsAreArchivedNotDeleted() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app)
            let order = try await app.placeOrder(fixture)
            let productID = try #require((order["lines"] as? [[String: Any]])?.first?["product_id"] as? String)
            let product = "/v1/admin/products/\(productID)"
            let refused = try await app.send(.delete, product, token: fixture.admin)
            #expect(refused.status == .conflict)
            #expect(try app.problemType(refused) == "urn:emporium:problem:has-orders")
            #expect(try await app.send(.delete, "\(product)/variants/\(fixture.variantID)", token: fixture.admin).status == .conflict)
            #expect(try await app.send(.patch, product, token: fixture.admin, json: #"{"status":"archived"}"#).status == .ok)
        }
    }

    @Test func settingsAreValidated() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            try expectInvalid(try await app.send(.post, "/v1/admin/shipping-methods", token: admin, json: #"{"name":"X","currency":"EUR"}"#), at: "/flat_amount")
            try expectInvalid(try await app.send(.post, "/v1/admin/shipping-methods", token: admin, json: #"{"name":"X","currency":"EUR","tiers":[{"max_grams":0,"amount":5}]}"#), at: "/tiers/0/max_grams")
            try expectInvalid(try await app.send(.post, "/v1/admin/shipping-methods", token: admin, json: #"{"name":"X","currency":"EUR","flat_amount":1,"countries":["ZZZ"]}"#), at: "/countries/0")
            try expectInvalid(try await app.send(.post, "/v1/admin/tax-rates", token: admin, json: #"{"country":"DE","name":"VAT","rate_ppm":1000001}"#), at: "/rate_ppm")
            #expect(try await app.send(.post, "/v1/admin/tax-rates", token: admin, json: #"{"country":"US","region":"NY","name":"NY","rate_ppm":88750}"#).status == .created)
            #expect(try await app.send(.post, "/v1/admin/tax-rates", token: admin, json: #"{"country":"US","region":"ny","name":"Again","rate_ppm":1}"#).status == .conflict)
            try expectInvalid(try await app.send(.post, "/v1/admin/discounts", token: admin, json: #"{"code":"X","kind":"percentage","percentage_ppm":5}"#), at: "/code")
            try expectInvalid(try await app.send(.post, "/v1/admin/discounts", token: admin, json: #"{"code":"FIXED","kind":"fixed"}"#), at: "/amounts")
            try expectInvalid(try await app.send(.post, "/v1/admin/discounts", token: admin, json: #"{"code":"PCT","kind":"percentage","percentage_ppm":0}"#), at: "/percentage_ppm")
            try expectInvalid(try await app.send(.post, "/v1/admin/discounts", token: admin, json: #"{"code":"WIN","kind":"percentage","percentage_ppm":5,"starts_at":"2026-12-02T00:00:00Z","ends_at":"2026-12-01T00:00:00Z"}"#), at: "/ends_at")
            let created = try await app.send(.post, "/v1/admin/discounts", token: admin, json: #"{"code":"gone","kind":"percentage","percentage_ppm":5}"#)
            let id = try #require(try created.jsonObject()["id"] as? String)
            #expect(try await app.send(.delete, "/v1/admin/discounts/\(id)", token: admin).status == .noContent)
            #expect(try await app.send(.delete, "/v1/admin/discounts/\(id)", token: admin).status == .notFound)
        }
    }
}
