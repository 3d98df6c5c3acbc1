import Emporium
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

extension TestApp {
    /// Sends JSON with extra headers (If-Match, Idempotency-Key…).
    @discardableResult
    func send(
        _ method: HTTPRequest.Method, _ uri: String, token: String?, json: String?, headers extra: HTTPFields
    ) async throws -> TestResponse {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil { headers[.contentType] = "application/json" }
        return try await http.execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }

    /// Creates a product through the admin API and returns its JSON.
    @discardableResult
    func createProduct(_ json: String, token: String) async throws -> [String: Any] {
        let response = try await send(.post, "/v1/admin/products", token: token, json: json)
        guard response.status == .created else { throw TestFailure("creating a product answered \(response.status): \(response.text)") }
        return try response.jsonObject()
    }

    static func product(
        handle: String, title: String? = nil, status: String = "active", sku: String? = nil, eur: Int = 1000,
        category: String? = nil, description: String = "A fine thing."
    ) -> String {
        let categoryMember = category.map { #","category_id":"\#($0)""# } ?? ""
        return #"{"handle":"\#(handle)","title":"\#(title ?? handle)","description":"\#(description)","status":"\#(status)"\#(categoryMember),"options":["Size"],"variants":[{"sku":"\#(sku ?? handle.uppercased() + "-M")","option_values":["M"],"weight_grams":250,"prices":[{"currency":"EUR","amount":\#(eur)},{"currency":"USD","amount":\#(eur + 100)}]}]}"#
    }
}

@Suite struct CatalogAdminTests {
    @Test func staffCreateReadUpdateAndDeleteProductsWithVersions() async throws {
        try await withApp { app in
            let staff = try await app.signIn("staff@example.com", as: .staff)
            let created = try await app.send(.post, "/v1/admin/products", token: staff, json: TestApp.product(handle: "linen-shirt"))
            #expect(created.status == .created)
            #expect(created.headers[.eTag] == "\"v1\"")
            let product = try created.jsonObject()
            let id = try #require(product["id"] as? String)
            let variants = try #require(product["variants"] as? [[String: Any]])
            #expect(variants.first?["sku"] as? String == "LINEN-SHIRT-M")
            #expect((variants.first?["prices"] as? [[String: Any]])?.count == 2)

            let stale = try await app.send(.patch, "/v1/admin/products/\(id)", token: staff, json: #"{"title":"Linen shirt"}"#, headers: [.ifMatch: "\"v0\""])
            #expect(stale.status == .preconditionFailed)
            #expect(try app.problemType(stale) == "urn:emporium:problem:precondition-failed")
            let updated = try await app.send(.patch, "/v1/admin/products/\(id)", token: staff, json: #"{"title":"Linen shirt","tags":["summer"]}"#, headers: [.ifMatch: "\"v1\""])
            #expect(updated.status == .ok)
            #expect(updated.headers[.eTag] == "\"v2\"")
            #expect(try updated.jsonObject()["title"] as? String == "Linen shirt")

            // A variant change moves the product's version on too.
            let variantID = try #require(variants.first?["id"] as? String)
            let priced = try await app.send(
                .patch, "/v1/admin/products/\(id)/variants/\(variantID)", token: staff,
                json: #"{"prices":[{"currency":"EUR","amount":1999}]}"#, headers: [.ifMatch: "\"v2\""])
            #expect(priced.status == .ok && priced.headers[.eTag] == "\"v3\"")
            let added = try await app.send(.post, "/v1/admin/products/\(id)/variants", token: staff, json: #"{"sku":"LINEN-SHIRT-L","option_values":["L"]}"#)
            #expect(added.status == .created && added.headers[.eTag] == "\"v4\"")

            let fetched = try await app.send(.get, "/v1/admin/products/\(id)", token: staff)
            #expect(fetched.headers[.eTag] == "\"v4\"")
            #expect((try fetched.jsonObject()["variants"] as? [Any])?.count == 2)

            #expect(try await app.send(.delete, "/v1/admin/products/\(id)", token: staff, json: nil, headers: [.ifMatch: "\"v3\""]).status == .preconditionFailed)
            #expect(try await app.send(.delete, "/v1/admin/products/\(id)", token: staff).status == .noContent)
            #expect(try await app.send(.get, "/v1/admin/products/\(id)", token: staff).status == .notFound)

            let audit = try await app.database.query("SELECT action FROM audit_log WHERE action LIKE 'product.%' OR action LIKE 'variant.%' ORDER BY id")
            #expect(try audit.map { try $0.decode("action", as: String.self) } == [
                "product.created", "product.updated", "variant.updated", "variant.created", "product.deleted",
            ])
        }
    }

    @Test(arguments: [
        (#"{"handle":"Bad Handle","title":"x"}"#, "/handle"),
        (#"{"title":"x"}"#, "/handle"),
        (#"{"handle":"x","title":""}"#, "/title"),
        (#"{"handle":"x","title":"x","status":"live"}"#, "/status"),
        (#"{"handle":"x","title":"x","colour":"red"}"#, "/colour"),
        (#"{"handle":"x","title":"x","images":[{"url":"javascript:alert(1)","alt":""}]}"#, "/images/0/url"),
        (#"{"handle":"x","title":"x","images":[{"url":"https://cdn.example.com/a.jpg","alt":"","size":3}]}"#, "/images/0/size"),
        (#"{"handle":"x","title":"x","options":["Size"],"variants":[{"sku":"X-1","option_values":[]}]}"#, "/variants/0/option_values"),
        (#"{"handle":"x","title":"x","variants":[{"sku":"X 1"}]}"#, "/variants/0/sku"),
        (#"{"handle":"x","title":"x","variants":[{"sku":"X-1","prices":[{"currency":"EURO","amount":1}]}]}"#, "/variants/0/prices/0/currency"),
        (#"{"handle":"x","title":"x","variants":[{"sku":"X-1","prices":[{"currency":"EUR","amount":-1}]}]}"#, "/variants/0/prices/0/amount"),
        (#"{"handle":"x","title":"x","variants":[{"sku":"X-1","prices":[{"currency":"EUR","amount":1.5}]}]}"#, "/variants/0/prices/0/amount"),
        (#"{"handle":"x","title":"x","category_id":"00000000-0000-7000-8000-000000000000"}"#, "/category_id"),
    ])
    func invalidProductsPointAtTheField(body: String, pointer: String) async throws {
        try await withApp { app in
            let staff = try await app.signIn("staff@example.com", as: .staff)
            let response = try await app.send(.post, "/v1/admin/products", token: staff, json: body)
            try expectInvalid(response, at: pointer)
            #expect(try await app.database.query("SELECT id FROM products").isEmpty)
        }
    }

    @Test func handlesAndSKUsAreUnique() async throws {
        try await withApp { app in
            let staff = try await app.signIn("staff@example.com", as: .staff)
            try await app.createProduct(TestApp.product(handle: "mug", sku: "MUG-1"), token: staff)
            let sameHandle = try await app.send(.post, "/v1/admin/products", token: staff, json: TestApp.product(handle: "mug", sku: "MUG-2"))
            let sameHandleType = try app.problemType(sameHandle)
            #expect(sameHandle.status == .conflict && sameHandleType == "urn:emporium:problem:handle-taken")
            let sameSKU = try await app.send(.post, "/v1/admin/products", token: staff, json: TestApp.product(handle: "cup", sku: "MUG-1"))
            let sameSKUType = try app.problemType(sameSKU)
            #expect(sameSKU.status == .conflict && sameSKUType == "urn:emporium:problem:sku-taken")
        }
    }

    @Test func categoriesFormATreeWithoutCycles() async throws {
        try await withApp { app in
            let staff = try await app.signIn("staff@example.com", as: .staff)
            let clothing = try await app.send(.post, "/v1/admin/categories", token: staff, json: #"{"slug":"clothing","name":"Clothing"}"#).jsonObject()
            let clothingID = try #require(clothing["id"] as? String)
            let shirts = try await app.send(.post, "/v1/admin/categories", token: staff, json: #"{"slug":"shirts","name":"Shirts","parent_id":"\#(clothingID)"}"#)
            #expect(shirts.status == .created)
            let shirtsID = try #require(try shirts.jsonObject()["id"] as? String)
            let cycle = try await app.send(.patch, "/v1/admin/categories/\(clothingID)", token: staff, json: #"{"parent_id":"\#(shirtsID)"}"#)
            try expectInvalid(cycle, at: "/parent_id")
            let duplicate = try await app.send(.post, "/v1/admin/categories", token: staff, json: #"{"slug":"shirts","name":"Again"}"#)
            #expect(duplicate.status == .conflict)
            let busy = try await app.send(.delete, "/v1/admin/categories/\(clothingID)", token: staff)
            #expect(busy.status == .conflict)

            let tree = try await app.get("/v1/categories", token: nil).jsonObject()
            let roots = try #require(tree["data"] as? [[String: Any]])
            #expect(roots.count == 1 && roots[0]["slug"] as? String == "clothing")
            #expect((roots[0]["children"] as? [[String: Any]])?.first?["slug"] as? String == "shirts")

            let moved = try await app.send(.patch, "/v1/admin/categories/\(shirtsID)", token: staff, json: #"{"parent_id":null}"#)
            #expect(moved.status == .ok)
            #expect(try moved.jsonObject()["parent_id"] == nil)
            #expect(try await app.send(.delete, "/v1/admin/categories/\(clothingID)", token: staff).status == .noContent)
        }
    }
}
