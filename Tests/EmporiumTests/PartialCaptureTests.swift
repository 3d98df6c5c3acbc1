import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// Capturing part of an authorization: the provider takes that much once, refunds stop at it,
/// and a capture whose answer was lost is finished with the amount that was asked for.
@Suite struct PartialCaptureTests {
    @Test func stripeTakesThePartAndRefundsStopAtIt() async throws {
        try await StripeGatewayTests().withStripe(capture: .manual, configuredProvider: true) { app, double in
            let fixture = try await CommerceFixture(app)
            let cart = try await app.readyCart(fixture, quantity: 2)
            let placed = try await app.stripeCheckout(cart, method: "pm_card_visa")
            #expect(placed.status == .created, "\(placed.text)")
            let order = try placed.jsonObject()
            let id = try #require(order["id"] as? String)
            let total = try #require((order["totals"] as? [String: Any])?["total"] as? Int)
            let part = total - 700

            let captured = try await app.send(
                .post, "/v1/admin/orders/\(id)/capture", token: fixture.admin, json: #"{"amount":\#(part)}"#)
            #expect(captured.status == .ok, "\(captured.text)")
            let paid = try captured.jsonObject()
            #expect(paid["status"] as? String == "paid")
            #expect((paid["payment"] as? [String: Any])?["captured"] as? Int == part)
            #expect(double.intents.first?.amountReceived == Int64(part))
            #expect(double.intents.first?.captures == 1)
            // Asking again answers the paid order and takes nothing more.
            let again = try await app.send(.post, "/v1/admin/orders/\(id)/capture", token: fixture.admin, json: #"{"amount":\#(part)}"#)
            #expect(again.status == .ok)
            #expect(double.intents.first?.captures == 1)

            var headers = HTTPFields()
            headers[HTTPField.Name("Idempotency-Key")!] = "too-much"
            let tooMuch = try await app.send(
                .post, "/v1/admin/orders/\(id)/refunds", token: fixture.admin, json: #"{"amount":\#(part + 1)}"#, headers: headers)
            #expect(tooMuch.status == .conflict, "\(tooMuch.text)")
            headers[HTTPField.Name("Idempotency-Key")!] = "all-of-it"
            let all = try await app.send(
                .post, "/v1/admin/orders/\(id)/refunds", token: fixture.admin, json: #"{"amount":\#(part)}"#, headers: headers)
            #expect(all.status == .created, "\(all.text)")
        }
    }

    /// Staff pressing capture several times at once (or a client retrying): the provider takes
    /// the money once, the order is paid once, and the audit log and the outbox say so once.
    @Test func capturesSentAtOnceTakeTheMoneyOnceAndAreRecordedOnce() async throws {
        let provider = TestPaymentProvider()
        try await withApp(configure: { $0.paymentCapture = .manual }, paymentProviders: [provider]) { app in
            let fixture = try await CommerceFixture(app)
            let order = try await app.placeOrder(fixture)
            let id = try #require(order["id"] as? String)
            let total = try #require((order["totals"] as? [String: Any])?["total"] as? Int)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<8 {
                    group.addTask { try await app.send(.post, "/v1/admin/orders/\(id)/capture", token: fixture.admin, json: nil).status }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == .ok || $0 == .conflict }, "\(statuses)")
            #expect(statuses.contains(.ok))
            let paid = try await app.send(.get, "/v1/admin/orders/\(id)", token: fixture.admin, json: nil).jsonObject()
            #expect(paid["status"] as? String == "paid")
            #expect((paid["payment"] as? [String: Any])?["captured"] as? Int == total)
            #expect(provider.effects(of: .capture) == 1)
            let audited = try await app.database.queryFirst(
                "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'order.captured' AND target = \(order["number"] as? String ?? "")")
            let events = try await app.database.queryFirst("SELECT COUNT(*) AS n FROM outbox WHERE event_type = 'order.paid'")
            #expect(try audited?.decode("n", as: Int64.self) == 1)
            #expect(try events?.decode("n", as: Int64.self) == 1)
        }
    }

    @Test func amountsOutsideTheAuthorizationAreRefusedAndNothingMoves() async throws {
        let provider = TestPaymentProvider()
        try await withApp(configure: { $0.paymentCapture = .manual }, paymentProviders: [provider]) { app in
            let fixture = try await CommerceFixture(app)
            let order = try await app.placeOrder(fixture)
            let id = try #require(order["id"] as? String)
            let total = try #require((order["totals"] as? [String: Any])?["total"] as? Int)
            for body in [#"{"amount":0}"#, #"{"amount":-5}"#, #"{"amount":\#(total + 1)}"#] {
                let refused = try await app.send(.post, "/v1/admin/orders/\(id)/capture", token: fixture.admin, json: body)
                #expect(refused.status == .badRequest, "\(body): \(refused.text)")
                try expectInvalid(refused, at: "/amount")
            }
            for body in [#"{"amount":"12"}"#, #"{"amount":1,"currency":"EUR"}"#, #"{"amount":"#] {
                let refused = try await app.send(.post, "/v1/admin/orders/\(id)/capture", token: fixture.admin, json: body)
                #expect(refused.status.code == 400 || refused.status.code == 422, "\(body): \(refused.text)")
            }
            // A body without a content type is refused, not ignored: ignoring it would take everything.
            let untyped = try await app.http.execute(
                uri: "/v1/admin/orders/\(id)/capture", method: .post, headers: [.authorization: "Bearer \(fixture.admin)"],
                body: ByteBuffer(string: #"{"amount":1}"#))
            #expect(untyped.status == .unsupportedMediaType, "\(untyped.text)")
            #expect(provider.effects(of: .capture) == 0)
            // No body, even with a JSON content type (as curl sends it), captures it all.
            let whole = try await app.http.execute(
                uri: "/v1/admin/orders/\(id)/capture", method: .post,
                headers: [.authorization: "Bearer \(fixture.admin)", .contentType: "application/json"])
            #expect(whole.status == .ok, "\(whole.text)")
            #expect((try whole.jsonObject()["payment"] as? [String: Any])?["captured"] as? Int == total)
            #expect(provider.effects(of: .capture) == 1)
        }
    }

    @Test func aPartialCaptureWhoseAnswerWasLostIsFinishedWithItsAmount() async throws {
        let provider = TestPaymentProvider()
        try await withApp(configure: { $0.paymentCapture = .manual }, paymentProviders: [provider]) { app in
            let fixture = try await CommerceFixture(app)
            let order = try await app.placeOrder(fixture)
            let id = try #require(order["id"] as? String)
            let total = try #require((order["totals"] as? [String: Any])?["total"] as? Int)
            let part = total / 2
            provider.inject(.timeoutAfterEffect, into: .capture)
            let lost = try await app.send(.post, "/v1/admin/orders/\(id)/capture", token: fixture.admin, json: #"{"amount":\#(part)}"#)
            #expect(lost.status == .gatewayTimeout)
            // While that capture is being settled, another amount waits its turn.
            let other = try await app.send(.post, "/v1/admin/orders/\(id)/capture", token: fixture.admin, json: #"{"amount":\#(part + 1)}"#)
            #expect(other.status == .conflict, "\(other.text)")
            #expect(try app.problemType(other)?.hasSuffix("capture-in-progress") == true)
            app.clock.advance(by: 61)
            try await app.jobs.drain()
            let paid = try await app.send(.get, "/v1/admin/orders/\(id)", token: fixture.admin).jsonObject()
            #expect(paid["status"] as? String == "paid")
            #expect((paid["payment"] as? [String: Any])?["captured"] as? Int == part)
            #expect(provider.effects(of: .capture) == 1)
            #expect(provider.totals.captured == Int64(part))
        }
    }
}
