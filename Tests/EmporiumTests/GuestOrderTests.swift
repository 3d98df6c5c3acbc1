@testable import Emporium
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

extension TestApp {
    /// `GET /v1/orders/{id}` with an order access token and nothing else.
    func guestOrder(_ id: String, token: String?) async throws -> TestResponse {
        var headers = HTTPFields()
        if let token { headers[HTTPField.Name("X-Order-Token")!] = token }
        return try await http.execute(uri: "/v1/orders/\(id)", method: .get, headers: headers)
    }
}

/// A guest sees their order with the access token checkout showed them once, or the link in
/// the confirmation e-mail; nobody else's, and nothing with a wrong token.
@Suite struct GuestOrderTests {
    static let encrypted: @Sendable (inout AppConfiguration) -> Void = { $0.encryptionKeyFile = TestDatabase.encryptionKeyFile }

    /// The token is put in front of the kept answer's members, which are encoded once.
    @Test func theShownAnswerIsTheKeptOneWithTheSecretInFront() throws {
        let answer = try Idempotency.Stored(status: .created, kept: ["id": "o1", "total": "5"], showing: "access_token", "t/\"1")
        #expect(String(buffer: answer.body) == #"{"id":"o1","total":"5"}"#)
        #expect(String(buffer: try #require(answer.shown)) == #"{"access_token":"t/\"1","id":"o1","total":"5"}"#)
        let empty = try Idempotency.Stored(status: .created, kept: [String: String](), showing: "access_token", "t")
        #expect(String(buffer: try #require(empty.shown)) == #"{"access_token":"t"}"#)
        #expect(throws: EncodingError.self) { try Idempotency.Stored(status: .created, kept: ["a"], showing: "access_token", "t") }
    }

    func guestCheckout(_ app: TestApp, _ fixture: CommerceFixture, key: String = UUID().uuidString) async throws -> (id: String, token: String) {
        let cart = try await app.readyCart(fixture)
        let placed = try await app.checkout(cart, key: key)
        #expect(placed.status == .created, "\(placed.text)")
        let order = try placed.jsonObject()
        return (try #require(order["id"] as? String), try #require(order["access_token"] as? String))
    }

    @Test func theCheckoutAnswerCarriesATokenThatReadsThatOrderOnly() async throws {
        try await withApp(configure: Self.encrypted) { app in
            let fixture = try await CommerceFixture(app, stock: 10)
            let first = try await guestCheckout(app, fixture)
            let second = try await guestCheckout(app, fixture)
            #expect(first.token != second.token && first.token.count >= 43)

            let read = try await app.guestOrder(first.id, token: first.token)
            #expect(read.status == .ok, "\(read.text)")
            let order = try read.jsonObject()
            #expect(order["id"] as? String == first.id)
            #expect(order["email"] as? String == "shopper@example.com")
            #expect(order["access_token"] == nil)

            // Another order's token, a wrong one, an id that is no order: 404 alike.
            for (id, token) in [
                (first.id, second.token), (first.id, first.token + "x"), (first.id, ""), (second.id, first.token),
                ("0193a0a0-0000-7000-8000-000000000000", first.token), ("not-an-id", first.token),
            ] {
                let refused = try await app.guestOrder(id, token: token)
                #expect(refused.status == .notFound, "\(id) \(token): \(refused.text)")
                #expect(try refused.jsonObject()["type"] as? String == "urn:emporium:problem:not-found")
            }
            // Neither a token nor a bearer: 401 as before.
            #expect(try await app.guestOrder(first.id, token: nil).status == .unauthorized)
            // The token is for reading: cancelling still needs the customer.
            var headers = HTTPFields()
            headers[HTTPField.Name("X-Order-Token")!] = first.token
            let cancel = try await app.http.execute(uri: "/v1/orders/\(first.id)/cancel", method: .post, headers: headers)
            #expect(cancel.status == .unauthorized)
        }
    }

    @Test func theTokenIsShownOnceAndKeptOnlyAsADigest() async throws {
        try await withApp(configure: Self.encrypted) { app in
            let fixture = try await CommerceFixture(app, stock: 10)
            let cart = try await app.readyCart(fixture)
            let placed = try await app.checkout(cart, key: "once")
            let token = try #require(try placed.jsonObject()["access_token"] as? String)
            let id = try #require(try placed.jsonObject()["id"] as? String)

            // The same key answers the same order, without the token.
            let replayed = try await app.checkout(cart, key: "once")
            #expect(replayed.status == .created)
            #expect(try replayed.jsonObject()["id"] as? String == id)
            #expect(try replayed.jsonObject()["access_token"] == nil)

            let row = try #require(try await app.database.queryFirst(
                "SELECT access_token_hash, access_token_sealed FROM orders WHERE id = \(id)"))
            #expect(try row.decode("access_token_hash", as: String.self) == SecretToken.digest(token))
            let sealed = try #require(try row.decode("access_token_sealed", as: String?.self))
            #expect(!sealed.contains(token))
            // Nowhere else in clear: not in the stored answer, the events or the jobs.
            for sql: SQL in [
                "SELECT response AS text FROM idempotency_keys", "SELECT payload AS text FROM outbox",
                "SELECT payload AS text FROM jobs",
            ] {
                for row in try await app.database.query(sql) {
                    #expect(try row.decode("text", as: String?.self)?.contains(token) != true, "\(sql)")
                }
            }
        }
    }

    @Test func theConfirmationLinksToTheOrderAndThenTheSealedCopyIsGone() async throws {
        try await withApp(configure: { config in
            Self.encrypted(&config)
            config.orderURL = "https://shop.example/orders"
        }) { app in
            let fixture = try await CommerceFixture(app, stock: 10)
            let placed = try await guestCheckout(app, fixture)
            let mail = try #require(try await app.sentMail().first { $0.contains("confirmed") })
            #expect(mail.contains("https://shop.example/orders/\(placed.id)?token=\(placed.token)"), "\(mail)")
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders WHERE access_token_sealed IS NOT NULL") == 0)
            // The digest stays: the link keeps working.
            #expect(try await app.guestOrder(placed.id, token: placed.token).status == .ok)
        }
    }

    @Test func customersGetNoTokenAndTheirConfirmationNoLink() async throws {
        try await withApp(configure: Self.encrypted) { app in
            let fixture = try await CommerceFixture(app, stock: 10)
            let customer = try await app.signIn("ada@example.com", as: .customer)
            let cart = try await app.readyCart(fixture, token: customer, email: "ada@example.com")
            let placed = try await app.checkout(cart)
            #expect(placed.status == .created, "\(placed.text)")
            let order = try placed.jsonObject()
            #expect(order["access_token"] == nil)
            let id = try #require(order["id"] as? String)
            let mail = try #require(try await app.sentMail().first { $0.contains("confirmed") })
            #expect(!mail.contains("?token="))
            // The customer reads it with their bearer token; another customer does not.
            #expect(try await app.send(.get, "/v1/orders/\(id)", token: customer, json: nil).status == .ok)
            let other = try await app.signIn("bob@example.com", as: .customer)
            #expect(try await app.send(.get, "/v1/orders/\(id)", token: other, json: nil).status == .notFound)
        }
    }

    @Test func aDeclinedGuestOrderShowsNoTokenAndKeepsNoSealedCopy() async throws {
        try await withApp(configure: Self.encrypted) { app in
            let fixture = try await CommerceFixture(app, stock: 10)
            let cart = try await app.readyCart(fixture)
            let declined = try await app.checkout(cart, token: "tok_chargeDeclined")
            #expect(declined.status.code == 402)
            #expect(!declined.text.contains("access_token"))
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders WHERE access_token_sealed IS NOT NULL") == 0)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders WHERE access_token_hash IS NOT NULL") == 1)
        }
    }
}
