import Emporium
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite struct CartTests {
    @Test func guestCartsAddUpWithShippingAndTax() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app)
            let created = try await app.send(.post, "/v1/carts", token: nil, json: #"{"currency":"EUR"}"#)
            #expect(created.status == .created)
            let secret = try #require(try created.jsonObject()["secret"] as? String)
            let cart = TestCart(id: try #require(try created.jsonObject()["id"] as? String), secret: secret, token: nil)

            let added = try await app.cart(cart, .post, "/items", json: #"{"sku":"MUG-1","quantity":2}"#)
            #expect(added.status == .ok, "\(added.text)")
            let item = try #require((try added.jsonObject()["items"] as? [[String: Any]])?.first)
            #expect(item["sku"] as? String == "MUG-1" && item["unit_price"] as? Int == 1000 && item["quantity"] as? Int == 2)
            #expect(item["fulfilled_quantity"] == nil)
            // Adding the same variant again raises the quantity of its line.
            let again = try await app.cart(cart, .post, "/items", json: #"{"variant_id":"\#(fixture.variantID)","quantity":1}"#)
            #expect((try again.jsonObject()["items"] as? [[String: Any]])?.count == 1)
            #expect((try again.jsonObject()["items"] as? [[String: Any]])?.first?["quantity"] as? Int == 3)

            try await app.cart(cart, .put, "/shipping-address", json: #"{"recipient":"Ada","line1":"1 Road","city":"Berlin","country":"de"}"#)
            let options = try await app.cart(cart, .get, "/shipping-options")
            let option = try #require((try options.jsonObject()["data"] as? [[String: Any]])?.first)
            #expect(option["amount"] as? Int == 490)
            let chosen = try await app.cart(cart, .put, "/shipping-method", json: #"{"shipping_method_id":"\#(fixture.shippingMethod)"}"#)
            let totals = try #require(try chosen.jsonObject()["totals"] as? [String: Any])
            // 3 × 10.00 + 4.90 shipping; 19 % of 30.00 = 5.70 and of 4.90 = 0.931 → 0.93.
            #expect(totals["subtotal"] as? Int == 3000)
            #expect(totals["shipping"] as? Int == 490)
            #expect(totals["tax"] as? Int == 570 + 93)
            #expect(totals["total"] as? Int == 3000 + 490 + 663)
            #expect(chosen.headers[.eTag] != nil)

            // The address is sealed at rest: its street never appears in the table.
            let stored: String = try #require(try await app.database.queryFirst("SELECT shipping_address FROM carts WHERE id = \(cart.id)")?.decode("shipping_address"))
            #expect(!stored.contains("1 Road"))
        }
    }

    @Test func othersCannotReachACart() async throws {
        try await withApp { app in
            _ = try await CommerceFixture(app)
            let guest = try await app.newCart()
            let stranger = TestCart(id: guest.id, secret: "not-the-secret", token: nil)
            #expect(try await app.cart(stranger, .get).status == .notFound)
            #expect(try await app.cart(TestCart(id: guest.id, secret: nil, token: nil), .get).status == .notFound)
            let customer = try await app.signIn("c@example.com", as: .customer)
            let other = try await app.signIn("d@example.com", as: .customer)
            let owned = try await app.newCart(token: customer)
            #expect(try await app.cart(TestCart(id: owned.id, secret: nil, token: other), .get).status == .notFound)
            #expect(try await app.cart(TestCart(id: owned.id, secret: nil, token: nil), .post, "/items", json: #"{"sku":"MUG-1","quantity":1}"#).status == .notFound)
            #expect(try await app.cart(owned, .get).status == .ok)
            // A customer has one open cart: asking again answers the same one.
            #expect(try await app.newCart(token: customer).id == owned.id)
        }
    }

    /// The variant being added is read in the same statement as the cart, its columns beside
    /// every line's: with several lines, each keeps its own and the new one gets the variant's.
    @Test func aVariantReadWithACartOfSeveralLinesIsTheOneAdded() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: 5)
            for (sku, price) in [("CUP-2", 700), ("BOWL-3", 1500)] {
                _ = try await app.createProduct(TestApp.product(handle: sku.lowercased(), sku: sku, eur: price), token: fixture.admin)
                try await app.receive(5, of: sku, at: fixture.location, token: fixture.admin)
            }
            let cart = try await app.newCart()
            for sku in ["CUP-2", "MUG-1"] {
                #expect(try await app.cart(cart, .post, "/items", json: #"{"sku":"\#(sku)","quantity":1}"#).status == .ok)
            }
            let added = try await app.cart(cart, .post, "/items", json: #"{"sku":"BOWL-3","quantity":2}"#)
            let lines = try #require(try added.jsonObject()["items"] as? [[String: Any]])
            let bySKU = Dictionary(uniqueKeysWithValues: lines.map { ($0["sku"] as? String ?? "", $0) })
            #expect(bySKU.count == 3)
            #expect(bySKU["BOWL-3"]?["unit_price"] as? Int == 1500 && bySKU["BOWL-3"]?["quantity"] as? Int == 2)
            #expect(bySKU["CUP-2"]?["unit_price"] as? Int == 700 && bySKU["MUG-1"]?["unit_price"] as? Int == 1000)
            // What is already in the cart counts: 5 exist, 2 are in the cart, 4 more is too many.
            let tooMany = try await app.cart(cart, .post, "/items", json: #"{"sku":"BOWL-3","quantity":4}"#)
            #expect(tooMany.status == .conflict)
            #expect((try tooMany.jsonObject()["detail"] as? String ?? "").contains("Only 5 of BOWL-3"))
            // Someone else's cart is 404 whatever the body: it is not judged before the cart is shown to be theirs.
            let stranger = TestCart(id: cart.id, secret: "not-the-secret", token: nil)
            #expect(try await app.cart(stranger, .post, "/items", json: #"{"sku": "#).status == .notFound)
            #expect(try await app.cart(stranger, .post, "/items", json: #"{"sku":"BOWL-3","quantity":"x"}"#).status == .notFound)
            let missing = TestCart(id: UUID().uuidString.lowercased(), secret: cart.secret, token: nil)
            #expect(try await app.cart(missing, .post, "/items", json: #"{"sku": "#).status == .notFound)
            // The owner hears what is wrong with the body.
            #expect(try await app.cart(cart, .post, "/items", json: #"{"sku": "#).status == .badRequest)
            // A well-formed id of no variant, and a variant of a product not for sale, name nothing to add.
            try expectInvalid(
                try await app.cart(cart, .post, "/items", json: #"{"variant_id":"\#(UUID().uuidString.lowercased())","quantity":1}"#),
                at: "/variant_id")
            _ = try await app.createProduct(TestApp.product(handle: "plate-4", status: "draft", sku: "PLATE-4"), token: fixture.admin)
            try expectInvalid(try await app.cart(cart, .post, "/items", json: #"{"sku":"PLATE-4","quantity":1}"#), at: "/sku")
        }
    }

    /// Adds to one cart at once: most plans lose their version to another add and are made
    /// again from a fresh read of the cart, which carries no variant, so the variant is read
    /// on its own (or under the writer); every add lands, each line at its own price.
    @Test func concurrentAddsToOneCartAllLandAtTheirPrices() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: 50)
            let skus = ["MUG-1": 1000, "CUP-2": 700, "BOWL-3": 1500, "JUG-4": 2200]
            for (sku, price) in skus where sku != fixture.sku {
                _ = try await app.createProduct(TestApp.product(handle: sku.lowercased(), sku: sku, eur: price), token: fixture.admin)
                try await app.receive(50, of: sku, at: fixture.location, token: fixture.admin)
            }
            let cart = try await app.newCart()
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for round in 0..<3 {
                    for sku in skus.keys {
                        group.addTask {
                            try await app.cart(cart, .post, "/items", json: #"{"sku":"\#(sku)","quantity":\#(round + 1)}"#).status
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == .ok }, "\(statuses)")
            let lines = try #require(try await app.cart(cart, .get).jsonObject()["items"] as? [[String: Any]])
            #expect(lines.count == skus.count)
            for line in lines {
                let sku = line["sku"] as? String ?? ""
                #expect(line["quantity"] as? Int == 1 + 2 + 3, "\(sku)")
                #expect(line["unit_price"] as? Int == skus[sku], "\(sku)")
            }
        }
    }

    @Test func addingMoreThanIsAvailableIs409NamingWhatIsLeft() async throws {
        try await withApp { app in
            _ = try await CommerceFixture(app, stock: 3)
            let cart = try await app.newCart()
            let response = try await app.cart(cart, .post, "/items", json: #"{"sku":"MUG-1","quantity":4}"#)
            #expect(response.status == .conflict)
            #expect(try app.problemType(response) == "urn:emporium:problem:out-of-stock")
            let detail = try response.jsonObject()["detail"] as? String ?? ""
            #expect(detail.contains("Only 3 of MUG-1"), "\(detail)")
            #expect((try await app.cart(cart, .get).jsonObject()["items"] as? [Any])?.isEmpty == true)
        }
    }

    @Test(arguments: [
        (#"{"sku":"MUG-1","quantity":0}"#, "/quantity"),
        (#"{"sku":"MUG-1","quantity":-2}"#, "/quantity"),
        (#"{"sku":"MUG-1","quantity":10001}"#, "/quantity"),
        (#"{"sku":"MUG-1","quantity":"2"}"#, "/quantity"),
        (#"{"sku":"NO-SUCH","quantity":1}"#, "/sku"),
        (#"{"variant_id":"not-an-id","quantity":1}"#, "/variant_id"),
        (#"{"quantity":1}"#, "/variant_id"),
        (#"{"sku":"MUG-1","quantity":1,"price":1}"#, "/price"),
    ])
    func badItemsAre400WithAPointer(body: String, pointer: String) async throws {
        try await withApp { app in
            _ = try await CommerceFixture(app)
            let cart = try await app.newCart()
            try expectInvalid(try await app.cart(cart, .post, "/items", json: body), at: pointer)
        }
    }

    @Test func badCartInputsAre400() async throws {
        try await withApp { app in
            _ = try await CommerceFixture(app)
            try expectInvalid(try await app.send(.post, "/v1/carts", token: nil, json: #"{"currency":"EURO"}"#), at: "/currency")
            try expectInvalid(try await app.send(.post, "/v1/carts", token: nil, json: #"{}"#), at: "/currency")
            let cart = try await app.newCart()
            try expectInvalid(try await app.cart(cart, .put, "/email", json: #"{"email":"nope"}"#), at: "/email")
            try expectInvalid(try await app.cart(cart, .put, "/shipping-address", json: #"{"recipient":"A","line1":"1","city":"X","country":"XX"}"#), at: "/country")
            try expectInvalid(try await app.cart(cart, .put, "/shipping-method", json: #"{"shipping_method_id":"x"}"#), at: "/shipping_method_id")
            let malformed = try await app.cart(cart, .put, "/email", json: #"{"email": "#)
            #expect(malformed.status == .badRequest)
            let unknown = try await app.cart(cart, .put, "/shipping-method", json: #"{"shipping_method_id":"\#(UUID().uuidString.lowercased())"}"#)
            #expect(unknown.status == .conflict)
            // A variant without a price in the cart's currency cannot go in.
            let yen = try await app.newCart(currency: "JPY")
            let noPrice = try await app.cart(yen, .post, "/items", json: #"{"sku":"MUG-1","quantity":1}"#)
            #expect(try app.problemType(noPrice) == "urn:emporium:problem:currency-mismatch")
            // An API key has no cart.
            let key = try await app.createAPIKey(scopes: [.ordersRead], adminToken: try await app.signIn("boss@example.com", as: .admin))
            #expect(try await app.send(.post, "/v1/carts", token: key, json: #"{"currency":"EUR"}"#).status == .forbidden)
        }
    }

    @Test func linesChangeAndGoAndAStaleVersionIs412() async throws {
        try await withApp { app in
            _ = try await CommerceFixture(app, stock: 5)
            let cart = try await app.newCart()
            let added = try await app.cart(cart, .post, "/items", json: #"{"sku":"MUG-1","quantity":1}"#)
            let itemID = try #require((try added.jsonObject()["items"] as? [[String: Any]])?.first?["id"] as? String)
            let tag = try #require(added.headers[.eTag])
            let changed = try await app.cart(cart, .patch, "/items/\(itemID)", json: #"{"quantity":5}"#, headers: [.ifMatch: tag])
            #expect(changed.status == .ok)
            let stale = try await app.cart(cart, .patch, "/items/\(itemID)", json: #"{"quantity":2}"#, headers: [.ifMatch: tag])
            #expect(stale.status == .preconditionFailed)
            #expect(try await app.cart(cart, .patch, "/items/\(itemID)", json: #"{"quantity":6}"#).status == .conflict)
            #expect(try await app.cart(cart, .delete, "/items/\(itemID)").status == .ok)
            #expect(try await app.cart(cart, .delete, "/items/\(itemID)").status == .notFound)
        }
    }

    @Test func discountCodesApplyAndExplainWhyNot() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app)
            let staff = try await app.signIn("staff@example.com", as: .staff)
            #expect(try await app.send(.post, "/v1/admin/discounts", token: staff, json: #"{"code":"tenoff","kind":"percentage","percentage_ppm":100000}"#).status == .created)
            #expect(try await app.send(.post, "/v1/admin/discounts", token: staff, json: #"{"code":"BIGSPEND","kind":"fixed","amounts":[{"currency":"EUR","amount":500}],"minimum_subtotals":[{"currency":"EUR","amount":5000}]}"#).status == .created)
            let cart = try await app.readyCart(fixture, quantity: 2)
            let applied = try await app.cart(cart, .put, "/discount-code", json: #"{"code":"TenOff"}"#)
            #expect(applied.status == .ok)
            let totals = try #require(try applied.jsonObject()["totals"] as? [String: Any])
            #expect(totals["discount"] as? Int == 200)
            // 19 % of 18.00 = 3.42, of 4.90 = 0.93.
            #expect(totals["total"] as? Int == 2000 - 200 + 490 + 342 + 93)
            let below = try await app.cart(cart, .put, "/discount-code", json: #"{"code":"BIGSPEND"}"#)
            #expect(below.status == .conflict)
            #expect(try app.problemType(below) == "urn:emporium:problem:discount-not-applicable")
            #expect(try await app.cart(cart, .put, "/discount-code", json: #"{"code":"NOPE"}"#).status == .conflict)
            let removed = try await app.cart(cart, .delete, "/discount-code")
            #expect((try removed.jsonObject()["totals"] as? [String: Any])?["discount"] as? Int == 0)
        }
    }

    @Test func aGuestCartMergesIntoTheCustomersOnRequest() async throws {
        try await withApp { app in
            _ = try await CommerceFixture(app)
            let customer = try await app.signIn("c@example.com", as: .customer)
            let own = try await app.newCart(token: customer)
            try await app.cart(own, .post, "/items", json: #"{"sku":"MUG-1","quantity":1}"#)
            let guest = try await app.newCart()
            try await app.cart(guest, .post, "/items", json: #"{"sku":"MUG-1","quantity":2}"#)
            try await app.cart(guest, .put, "/shipping-address", json: #"{"recipient":"A","line1":"1 Road","city":"Berlin","country":"DE"}"#)
            let merged = try await app.send(
                .post, "/v1/carts", token: customer, json: #"{"currency":"EUR","merge_cart_id":"\#(guest.id)"}"#,
                headers: guest.headers)
            #expect(merged.status == .ok, "\(merged.text)")
            let object = try merged.jsonObject()
            #expect(object["id"] as? String == own.id)
            #expect((object["items"] as? [[String: Any]])?.first?["quantity"] as? Int == 3)
            #expect((object["shipping_address"] as? [String: Any])?["city"] as? String == "Berlin")
            #expect(try await app.cart(guest, .get).jsonObject()["status"] as? String == "merged")
            #expect(try await app.cart(guest, .post, "/items", json: #"{"sku":"MUG-1","quantity":1}"#).status == .conflict)
            // Without the guest cart's secret there is nothing to merge.
            let other = try await app.newCart()
            let refused = try await app.send(.post, "/v1/carts", token: customer, json: #"{"currency":"EUR","merge_cart_id":"\#(other.id)"}"#)
            #expect(refused.status == .notFound)
        }
    }
}
