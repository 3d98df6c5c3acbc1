import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// Carrier rates and labels against a local carrier (`FakeCarrier`): quotes kept per cart
/// version, a slow or failing carrier never holding up the shipping options, the breaker, the
/// server's price at checkout, and labels bought once.
@Suite struct CarrierRateTests {
    /// An application whose carrier is a fresh fake; `timeout` is the carrier time-out.
    func withCarrier(
        timeout: Double = 10, breakerFailures: Int = 5, _ test: @escaping @Sendable (TestApp, FakeCarrier, CommerceFixture) async throws -> Void
    ) async throws {
        try await FakeCarrier.run { carrier in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("carrier-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let keyFile = folder.appendingPathComponent("carrier-key").path
            try "\(FakeCarrier.apiKey)\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
            try await withApp(configure: { configuration in
                configuration.carrierAPIBase = carrier.url
                configuration.carrierAPIKeyFile = keyFile
                configuration.carrierTimeout = .milliseconds(Int64(timeout * 1000))
                configuration.carrierBreakerFailures = breakerFailures
                configuration.carrierBreakerCoolDown = .seconds(30)
            }) { app in
                let fixture = try await CommerceFixture(app, stock: 50)
                // 250 g per mug (TestApp.product); its packed size:
                let product: String = try #require(
                    try await app.database.queryFirst("SELECT product_id FROM variants WHERE id = \(fixture.variantID)")?.decode("product_id"))
                let sized = try await app.send(
                    .patch, "/v1/admin/products/\(product)/variants/\(fixture.variantID)", token: fixture.admin,
                    json: #"{"dimensions_mm":{"length":120,"width":90,"height":100}}"#)
                #expect(sized.status == .ok, "\(sized.text)")
                try await test(app, carrier, fixture)
            }
        }
    }

    func options(_ app: TestApp, _ cart: TestCart) async throws -> [[String: Any]] {
        let response = try await app.cart(cart, .get, "/shipping-options")
        #expect(response.status == .ok, "\(response.text)")
        return try response.jsonObject()["data"] as? [[String: Any]] ?? []
    }

    func carrierOptions(_ app: TestApp, _ cart: TestCart) async throws -> [[String: Any]] {
        try await options(app, cart).filter { $0["kind"] as? String == "carrier" }
    }

    func choose(_ app: TestApp, _ cart: TestCart, rate: String) async throws -> TestResponse {
        try await app.cart(cart, .put, "/shipping-method", json: #"{"rate_id":"\#(rate)"}"#)
    }

    func expectProblem(_ response: TestResponse, _ status: HTTPResponse.Status, _ slug: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(response.status == status, "\(response.text)", sourceLocation: sourceLocation)
        #expect((try response.jsonObject()["type"] as? String)?.hasSuffix(":" + slug) == true, "\(response.text)", sourceLocation: sourceLocation)
    }

    @Test func quotesAreListedCachedPerCartVersionAndChargedAtCheckout() async throws {
        try await withCarrier { app, carrier, fixture in
            let cart = try await app.readyCart(fixture, quantity: 2)
            let first = try await options(app, cart)
            #expect(first.map { $0["kind"] as? String } == ["table", "carrier", "carrier"], "\(first)")
            #expect(carrier.calls(.rates) == 1)
            // The parcel: the variant's weight and size, the stock location, the cart's address.
            let shipment = try #require(carrier.lastBody(.rates)?["shipment"] as? [String: Any])
            let parcel = try #require(shipment["parcel"] as? [String: Any])
            #expect(parcel["weight_grams"] as? Int == 500)
            #expect(parcel["length_mm"] as? Int == 120 && parcel["height_mm"] as? Int == 200)
            #expect((shipment["origin"] as? [String: Any])?["location_code"] as? String == "main")
            #expect((shipment["destination"] as? [String: Any])?["postal_code"] as? String == "10117")

            // The same cart version: the kept quotes, no second call.
            let again = try await carrierOptions(app, cart)
            #expect(again.map { $0["id"] as? String } == first.dropFirst().map { $0["id"] as? String })
            #expect(carrier.calls(.rates) == 1)

            // Any change to the cart asks again.
            try await app.cart(cart, .put, "/email", json: #"{"email":"other@example.com"}"#)
            let fresh = try await carrierOptions(app, cart)
            #expect(carrier.calls(.rates) == 2)
            let ground = try #require(fresh.first { $0["name"] as? String == "Ground" })
            #expect(ground["estimated_days"] as? Int == 4 && ground["expires_at"] is String)
            let amount = try #require(ground["amount"] as? Int)

            let chosen = try await choose(app, cart, rate: try #require(ground["id"] as? String))
            #expect(chosen.status == .ok, "\(chosen.text)")
            let totals = try #require(try chosen.jsonObject()["totals"] as? [String: Any])
            #expect(totals["shipping"] as? Int == amount)
            #expect((try chosen.jsonObject()["shipping_method"] as? [String: Any])?["name"] as? String == "Ground")

            // A discount code or an e-mail does not change the parcel: the price holds.
            try await app.cart(cart, .put, "/email", json: #"{"email":"shopper@example.com"}"#)
            let placed = try await app.checkout(cart)
            #expect(placed.status == .created, "\(placed.text)")
            let order = try placed.jsonObject()
            #expect((order["totals"] as? [String: Any])?["shipping"] as? Int == amount, "\(placed.text)")

            let metrics = try await app.send(.get, "/metrics", token: nil).text
            #expect(metrics.contains(#"emporium_carrier_calls_total{call="rates",outcome="ok"} 2"#), "\(metrics)")
            #expect(metrics.contains("emporium_carrier_call_duration_seconds"))
        }
    }

    @Test func badRatesAreRefusedWithClearProblems() async throws {
        try await withCarrier { app, _, fixture in
            let cart = try await app.readyCart(fixture)
            try expectProblem(try await choose(app, cart, rate: UUID().uuidString.lowercased()), .unprocessableContent, "unknown-shipping-rate")
            try expectProblem(try await choose(app, cart, rate: "rate_ground_250"), .unprocessableContent, "unknown-shipping-rate")
            try expectInvalid(
                try await app.cart(cart, .put, "/shipping-method", json: #"{"rate_id":"x","shipping_method_id":"\#(fixture.shippingMethod)"}"#),
                at: "/rate_id")

            // Dimensions are all three, each 1 to 10000 mm.
            let product: String = try #require(
                try await app.database.queryFirst("SELECT product_id FROM variants WHERE id = \(fixture.variantID)")?.decode("product_id"))
            try expectInvalid(
                try await app.send(
                    .patch, "/v1/admin/products/\(product)/variants/\(fixture.variantID)", token: fixture.admin,
                    json: #"{"dimensions_mm":{"length":0,"width":90}}"#),
                at: "/dimensions_mm/length")

            // A quote of an earlier cart version.
            let old = try #require(try await carrierOptions(app, cart).first?["id"] as? String)
            try await app.cart(cart, .put, "/email", json: #"{"email":"changed@example.com"}"#)
            try expectProblem(try await choose(app, cart, rate: old), .conflict, "shipping-rate-stale")

            // Another cart's quote is unknown to this one.
            let other = try await app.readyCart(fixture)
            let foreign = try #require(try await carrierOptions(app, other).first?["id"] as? String)
            try expectProblem(try await choose(app, cart, rate: foreign), .unprocessableContent, "unknown-shipping-rate")

            // An expired quote.
            let current = try #require(try await carrierOptions(app, cart).first?["id"] as? String)
            app.clock.advance(by: 31 * 60)
            try expectProblem(try await choose(app, cart, rate: current), .conflict, "shipping-rate-expired")

            // A chosen quote whose cart's lines changed since: checkout refuses it.
            let valid = try #require(try await carrierOptions(app, cart).first?["id"] as? String)
            #expect(try await choose(app, cart, rate: valid).status == .ok)
            let items = try #require(try await app.cart(cart, .get).jsonObject()["items"] as? [[String: Any]])
            let item = try #require(items.first?["id"] as? String)
            #expect(try await app.cart(cart, .patch, "/items/\(item)", json: #"{"quantity":3}"#).status == .ok)
            try expectProblem(try await app.checkout(cart), .conflict, "shipping-rate-stale")
        }
    }

    @Test func aSlowCarrierLeavesTheTableRatesWithinTheTimeout() async throws {
        try await withCarrier(timeout: 0.5) { app, carrier, fixture in
            let cart = try await app.readyCart(fixture)
            carrier.always(.slow(4), on: .rates)
            let started = ContinuousClock.now
            let listed = try await options(app, cart)
            let elapsed = ContinuousClock.now - started
            #expect(listed.map { $0["id"] as? String } == [fixture.shippingMethod], "\(listed)")
            #expect(elapsed < .seconds(2), "listing took \(elapsed)")
            let metrics = try await app.send(.get, "/metrics", token: nil).text
            #expect(metrics.contains(#"emporium_carrier_calls_total{call="rates",outcome="timeout"} 1"#), "\(metrics)")
            // The table method still checks out.
            #expect(try await app.checkout(cart).status == .created)
        }
    }

    @Test func aFailingCarrierFallsBackAndTheBreakerStopsCallingIt() async throws {
        try await withCarrier(breakerFailures: 3) { app, carrier, fixture in
            let cart = try await app.readyCart(fixture)
            carrier.always(.serverError, on: .rates)
            for _ in 0..<5 {
                let listed = try await options(app, cart)
                #expect(listed.map { $0["id"] as? String } == [fixture.shippingMethod])
            }
            // Three failures opened the breaker: the last two listings did not call.
            #expect(carrier.calls(.rates) == 3)
            let metrics = try await app.send(.get, "/metrics", token: nil).text
            #expect(metrics.contains(#"emporium_carrier_calls_total{call="rates",outcome="short_circuited"} 2"#), "\(metrics)")

            // After the cool-down one trial goes through; the carrier is back, so it closes.
            carrier.always(nil, on: .rates)
            app.clock.advance(by: 31)
            #expect(try await carrierOptions(app, cart).count == 2)
            #expect(carrier.calls(.rates) == 4)
        }
    }

    /// An order placed with the carrier's Ground rate, paid.
    func paidCarrierOrder(_ app: TestApp, _ fixture: CommerceFixture) async throws -> (order: String, line: String) {
        let cart = try await app.readyCart(fixture, quantity: 2)
        let ground = try #require(try await carrierOptions(app, cart).first { $0["name"] as? String == "Ground" }?["id"] as? String)
        #expect(try await choose(app, cart, rate: ground).status == .ok)
        let placed = try await app.checkout(cart)
        #expect(placed.status == .created, "\(placed.text)")
        let order = try placed.jsonObject()
        let line = try #require((order["lines"] as? [[String: Any]])?.first?["id"] as? String)
        return (try #require(order["id"] as? String), line)
    }

    @Test func aLabelIsBoughtOnceAndItsTrackingNumberStored() async throws {
        try await withCarrier { app, carrier, fixture in
            let (order, line) = try await paidCarrierOrder(app, fixture)
            let fulfilled = try await app.send(
                .post, "/v1/admin/orders/\(order)/fulfillments", token: fixture.admin,
                json: #"{"location_id":"\#(fixture.location)","lines":[{"line_id":"\#(line)","quantity":2}],"buy_label":true}"#)
            #expect(fulfilled.status == .created, "\(fulfilled.text)")
            let body = try fulfilled.jsonObject()
            let label = try #require(body["label"] as? [String: Any])
            #expect(label["status"] as? String == "purchased" && label["service"] as? String == "ground")
            let tracking = try #require(label["tracking_number"] as? String)
            #expect(body["tracking_number"] as? String == tracking && body["carrier"] as? String == "FakeCarrier")
            let fulfillment = try #require(body["id"] as? String)
            // The idempotency key is ours, from the fulfilment id.
            let stored: String? = try await app.database.queryFirst(
                "SELECT tracking_number FROM fulfillments WHERE id = \(fulfillment)")?.decode("tracking_number")
            #expect(stored == tracking)
            #expect(try await app.sentMail().contains { $0.contains(tracking) })

            // Buying again answers the label bought, without calling the carrier.
            let again = try await app.send(.post, "/v1/admin/orders/\(order)/fulfillments/\(fulfillment)/label", token: fixture.admin)
            #expect(again.status == .ok, "\(again.text)")
            #expect(try again.jsonObject()["tracking_number"] as? String == tracking)
            #expect(carrier.calls(.labels) == 1 && carrier.labelsSold == 1)

            let none = try await app.send(.post, "/v1/admin/orders/\(order)/fulfillments/\(UUID().uuidString.lowercased())/label", token: fixture.admin)
            #expect(none.status == .notFound, "\(none.text)")
        }
    }

    @Test func aLostLabelAnswerIsRecoveredWithoutASecondLabel() async throws {
        try await withCarrier { app, carrier, fixture in
            let (order, line) = try await paidCarrierOrder(app, fixture)
            carrier.inject(.serverErrorAfterEffect, into: .labels)
            let fulfilled = try await app.send(
                .post, "/v1/admin/orders/\(order)/fulfillments", token: fixture.admin,
                json: #"{"location_id":"\#(fixture.location)","lines":[{"line_id":"\#(line)","quantity":2}],"buy_label":true}"#)
            #expect(fulfilled.status == .created, "\(fulfilled.text)")
            let body = try fulfilled.jsonObject()
            let label = try #require(body["label"] as? [String: Any])
            #expect(label["status"] as? String == "pending" && label["error"] is String, "\(fulfilled.text)")
            #expect(carrier.labelsSold == 1)
            // No shipping e-mail without the tracking number.
            #expect(try await app.sentMail().allSatisfy { !$0.contains("Tracking number") })

            let fulfillment = try #require(body["id"] as? String)
            let retried = try await app.send(.post, "/v1/admin/orders/\(order)/fulfillments/\(fulfillment)/label", token: fixture.admin)
            #expect(retried.status == .ok, "\(retried.text)")
            let tracking = try #require(try retried.jsonObject()["tracking_number"] as? String)
            #expect(carrier.calls(.labels) == 2 && carrier.labelsSold == 1)
            #expect(try await app.sentMail().contains { $0.contains(tracking) })

            // A fulfilment that names a service without buying is refused.
            try expectInvalid(
                try await app.send(
                    .post, "/v1/admin/orders/\(order)/fulfillments", token: fixture.admin,
                    json: #"{"location_id":"\#(fixture.location)","lines":[{"line_id":"\#(line)","quantity":1}],"label_service":"ground"}"#),
                at: "/label_service")
        }
    }

    @Test func withoutACarrierTheTableRatesAloneAnswerAndLabelsAreRefused() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app)
            let cart = try await app.readyCart(fixture)
            let listed = try await options(app, cart)
            #expect(listed.count == 1 && listed.first?["kind"] as? String == "table" && listed.first?["estimated_days"] is NSNull)
            let placed = try await app.checkout(cart)
            let order = try placed.jsonObject()
            let id = try #require(order["id"] as? String)
            let line = try #require((order["lines"] as? [[String: Any]])?.first?["id"] as? String)
            let refused = try await app.send(
                .post, "/v1/admin/orders/\(id)/fulfillments", token: fixture.admin,
                json: #"{"location_id":"\#(fixture.location)","lines":[{"line_id":"\#(line)","quantity":1}],"buy_label":true}"#)
            try expectProblem(refused, .conflict, "carrier-not-configured")
            let again = try await app.send(.post, "/v1/admin/orders/\(id)/fulfillments/\(UUID().uuidString.lowercased())/label", token: fixture.admin)
            try expectProblem(again, .conflict, "carrier-not-configured")
            // Nothing was shipped by the refused fulfilment.
            #expect(try await app.count("SELECT COUNT(*) AS n FROM fulfillments") == 0)
        }
    }
}
