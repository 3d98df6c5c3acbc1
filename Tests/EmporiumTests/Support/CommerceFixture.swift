import Emporium
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// A shop ready to sell, made through the admin API: one product (SKU `MUG-1`, €10.00) with
/// stock at one location, a €4.90 shipping method and 19 % VAT for Germany.
struct CommerceFixture: Sendable {
    let admin: String
    let sku: String
    let variantID: String
    let location: String
    let shippingMethod: String

    /// A fixture over things that already exist.
    init(admin: String, sku: String, variantID: String, location: String, shippingMethod: String) {
        self.admin = admin
        self.sku = sku
        self.variantID = variantID
        self.location = location
        self.shippingMethod = shippingMethod
    }

    init(_ app: TestApp, sku: String = "MUG-1", stock: Int = 100, price: Int = 1000) async throws {
        admin = try await app.signIn("admin@example.com", as: .admin)
        let product = try await app.createProduct(TestApp.product(handle: sku.lowercased(), sku: sku, eur: price), token: admin)
        variantID = try #require((product["variants"] as? [[String: Any]])?.first?["id"] as? String)
        self.sku = sku
        let created = try await app.send(.post, "/v1/admin/inventory/locations", token: admin, json: #"{"code":"main","name":"Main"}"#)
        location = try #require(try created.jsonObject()["id"] as? String)
        if stock > 0 {
            try await app.receive(stock, of: sku, at: location, token: admin)
        }
        let method = try await app.send(
            .post, "/v1/admin/shipping-methods", token: admin, json: #"{"name":"Standard","currency":"EUR","flat_amount":490}"#)
        shippingMethod = try #require(try method.jsonObject()["id"] as? String, "\(method.text)")
        let tax = try await app.send(.post, "/v1/admin/tax-rates", token: admin, json: #"{"country":"DE","name":"VAT","rate_ppm":190000}"#)
        #expect(tax.status == .created, "\(tax.text)")
    }
}

/// A cart as a test holds it: its id, and the secret (guest) or access token (customer).
struct TestCart: Sendable {
    let id: String
    let secret: String?
    let token: String?

    var headers: HTTPFields {
        var headers = HTTPFields()
        if let secret { headers[HTTPField.Name("X-Cart-Token")!] = secret }
        return headers
    }
}

extension TestApp {
    func receive(_ quantity: Int, of sku: String, at location: String, token: String) async throws {
        let response = try await send(
            .post, "/v1/admin/inventory/adjustments", token: token,
            json: #"{"sku":"\#(sku)","location_id":"\#(location)","delta":\#(quantity),"reason":"received"}"#)
        guard response.status == .created else { throw TestFailure("receiving stock answered \(response.status): \(response.text)") }
    }

    /// Sends a request to one of the cart's routes as its owner.
    @discardableResult
    func cart(
        _ cart: TestCart, _ method: HTTPRequest.Method, _ suffix: String = "", json: String? = nil, headers extra: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = cart.headers
        for field in extra { headers.append(field) }
        return try await send(method, "/v1/carts/\(cart.id)\(suffix)", token: cart.token, json: json, headers: headers)
    }

    /// A new cart: a guest's without a token, else the customer's.
    func newCart(token: String? = nil, currency: String = "EUR") async throws -> TestCart {
        let response = try await send(.post, "/v1/carts", token: token, json: #"{"currency":"\#(currency)"}"#)
        guard response.status == .created || response.status == .ok else { throw TestFailure("creating a cart answered \(response.status): \(response.text)") }
        let object = try response.jsonObject()
        return TestCart(id: try #require(object["id"] as? String), secret: object["secret"] as? String, token: token)
    }

    /// A cart with `quantity` of the fixture's SKU, an e-mail, a German address and the
    /// fixture's shipping method: ready to check out.
    func readyCart(_ fixture: CommerceFixture, quantity: Int = 1, token: String? = nil, email: String = "shopper@example.com") async throws -> TestCart {
        let cart = try await newCart(token: token)
        for (method, suffix, body) in [
            (HTTPRequest.Method.post, "/items", #"{"sku":"\#(fixture.sku)","quantity":\#(quantity)}"#),
            (.put, "/email", #"{"email":"\#(email)"}"#),
            (.put, "/shipping-address", #"{"recipient":"Ada Lovelace","line1":"1 Unter den Linden","city":"Berlin","postal_code":"10117","country":"DE"}"#),
            (.put, "/shipping-method", #"{"shipping_method_id":"\#(fixture.shippingMethod)"}"#),
        ] {
            let response = try await self.cart(cart, method, suffix, json: body)
            guard response.status == .ok else { throw TestFailure("\(method) \(suffix) answered \(response.status): \(response.text)") }
        }
        return cart
    }

    @discardableResult
    func checkout(_ cart: TestCart, key: String? = UUID().uuidString, token card: String = "tok_visa") async throws -> TestResponse {
        var headers = HTTPFields()
        if let key { headers[HTTPField.Name("Idempotency-Key")!] = key }
        return try await self.cart(cart, .post, "/checkout", json: #"{"payment":{"provider":"test","token":"\#(card)"}}"#, headers: headers)
    }

    /// A count from the database, for invariants.
    func count(_ sql: SQL) async throws -> Int64 {
        try await database.queryFirst(sql)?.decode("n") ?? 0
    }
}
