import Emporium
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// Every problem document names the request it answers, whoever raised it: the platform, a
/// route, checkout's payment step, or an answer replayed for a repeated Idempotency-Key.
@Suite struct ProblemRequestIDTests {
    func expectRequestID(
        _ response: TestResponse, status: Int, slug: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        #expect(Int(response.status.code) == status, "\(response.text)", sourceLocation: sourceLocation)
        #expect(response.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
        let problem = try response.jsonObject()
        #expect(problem["type"] as? String == "urn:emporium:problem:\(slug)", sourceLocation: sourceLocation)
        let header = try #require(response.headers[HTTPField.Name("X-Request-ID")!], sourceLocation: sourceLocation)
        #expect(problem["request_id"] as? String == header, "\(response.text)", sourceLocation: sourceLocation)
    }

    @Test func everyKindOfProblemCarriesTheRequestID() async throws {
        try await withApp(configure: { $0.encryptionKeyFile = TestDatabase.encryptionKeyFile }) { app in
            let fixture = try await CommerceFixture(app, stock: 5)
            // 400: a body with faults.
            try expectRequestID(
                try await app.send(.post, "/v1/auth/register", token: nil, json: #"{"email": 1}"#), status: 400, slug: "validation")
            // 401: no credentials.
            try expectRequestID(try await app.send(.get, "/v1/me", token: nil, json: nil), status: 401, slug: "unauthenticated")
            // 404: nothing there.
            try expectRequestID(try await app.send(.get, "/v1/nothing", token: nil, json: nil), status: 404, slug: "not-found")
            // 405: another method.
            try expectRequestID(
                try await app.send(.delete, "/health/live", token: nil, json: nil), status: 405, slug: "method-not-allowed")
            // 415: not JSON.
            let text = try await app.http.execute(
                uri: "/v1/auth/login", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "hi"))
            try expectRequestID(text, status: 415, slug: "unsupported-media-type")
            // 409: a cart that cannot check out yet.
            let empty = try await app.newCart()
            try expectRequestID(try await app.checkout(empty), status: 409, slug: "cart-incomplete")
            // 402: a declined payment, and the same answer replayed for its key, each with the
            // id of the request it answers.
            let cart = try await app.readyCart(fixture)
            let declined = try await app.checkout(cart, key: "declined-once", token: "tok_chargeDeclined")
            try expectRequestID(declined, status: 402, slug: "payment-declined")
            let replayed = try await app.checkout(cart, key: "declined-once", token: "tok_chargeDeclined")
            try expectRequestID(replayed, status: 402, slug: "payment-declined")
            #expect(try replayed.jsonObject()["request_id"] as? String != declined.jsonObject()["request_id"] as? String)
            #expect(try replayed.jsonObject()["detail"] as? String == declined.jsonObject()["detail"] as? String)
            #expect(try replayed.jsonObject()["instance"] as? String == "/v1/carts/\(cart.id)/checkout")
            // 422: the key again with another body.
            let reused = try await app.cart(
                cart, .post, "/checkout", json: #"{"payment":{"provider":"test","token":"tok_visa"}}"#,
                headers: [HTTPField.Name("Idempotency-Key")!: "declined-once"])
            try expectRequestID(reused, status: 422, slug: "idempotency-key-reused")
            // 504: a payment not confirmed in time.
            let slow = try await app.readyCart(fixture)
            try expectRequestID(try await app.checkout(slow, token: "tok_timeout"), status: 504, slug: "payment-timeout")
        }
    }

    @Test func aRequestIDTheClientSentIsTheOneInTheProblem() async throws {
        try await withApp { app in
            let response = try await app.http.execute(
                uri: "/v1/orders/not-an-id", method: .get,
                headers: [HTTPField.Name("X-Request-ID")!: "shop-front-42"])
            try expectRequestID(response, status: 401, slug: "unauthenticated")
            #expect(try response.jsonObject()["request_id"] as? String == "shop-front-42")
        }
    }
}
