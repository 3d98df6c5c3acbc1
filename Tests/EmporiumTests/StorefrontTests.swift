import Emporium
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Logging
import Testing

extension TestApp {
    func handles(_ uri: String) async throws -> [String] {
        let response = try await get(uri, token: nil)
        guard response.status == .ok else { throw TestFailure("\(uri) answered \(response.status): \(response.text)") }
        return (try response.jsonObject()["data"] as? [[String: Any]] ?? []).compactMap { $0["handle"] as? String }
    }
}

@Suite struct StorefrontTests {
    @Test func listsActiveProductsWithFiltersSortsAndSearch() async throws {
        try await withApp { app in
            let staff = try await app.signIn("staff@example.com", as: .staff)
            let clothing = try await app.send(.post, "/v1/admin/categories", token: staff, json: #"{"slug":"clothing","name":"Clothing"}"#).jsonObject()["id"] as! String
            let shirts = try await app.send(.post, "/v1/admin/categories", token: staff, json: #"{"slug":"shirts","name":"Shirts","parent_id":"\#(clothing)"}"#).jsonObject()["id"] as! String
            try await app.createProduct(TestApp.product(handle: "blue-shirt", title: "Blue Oxford Shirt", eur: 3000, category: shirts), token: staff)
            try await app.createProduct(TestApp.product(handle: "wool-sweater", title: "Wool Sweater", eur: 6000, category: clothing, description: "Warm merino knit."), token: staff)
            try await app.createProduct(TestApp.product(handle: "mug", title: "Enamel Mug", eur: 1200, description: "Holds coffee; not a shirt."), token: staff)
            try await app.createProduct(TestApp.product(handle: "secret", title: "Unreleased Shirt", status: "draft"), token: staff)

            #expect(try await app.handles("/v1/products") == ["mug", "wool-sweater", "blue-shirt"])
            #expect(try await app.handles("/v1/products?sort=title") == ["blue-shirt", "mug", "wool-sweater"])
            #expect(try await app.handles("/v1/products?sort=price&currency=EUR") == ["mug", "blue-shirt", "wool-sweater"])
            #expect(try await app.handles("/v1/products?sort=-price&currency=EUR") == ["wool-sweater", "blue-shirt", "mug"])
            #expect(try await app.handles("/v1/products?currency=EUR&min_price=2000&max_price=5000") == ["blue-shirt"])
            #expect(try await app.handles("/v1/products?category=clothing") == ["wool-sweater", "blue-shirt"])
            #expect(try await app.handles("/v1/products?category=shirts") == ["blue-shirt"])
            // The title match ranks above the description match; drafts never show.
            #expect(try await app.handles("/v1/products?q=shirt") == ["blue-shirt", "mug"])
            #expect(try await app.handles("/v1/products?q=swe") == ["wool-sweater"])
            #expect(try await app.handles("/v1/products?q=merino") == ["wool-sweater"])
            #expect(try await app.handles("/v1/products?q=WOOL-SWEATER-M") == ["wool-sweater"])
            #expect(try await app.handles("/v1/products?q=nothing-like-this") == [])
            #expect(try await app.handles("/v1/products?in_stock=true") == [])

            let list = try await app.get("/v1/products?limit=1", token: nil).jsonObject()
            let first = try #require((list["data"] as? [[String: Any]])?.first)
            #expect((first["prices"] as? [[String: Any]])?.map { $0["currency"] as? String } == ["EUR", "USD"])
            #expect(first["in_stock"] as? Bool == false)
        }
    }

    @Test(arguments: ["newest", "title", "price", "-price"])
    func pagesStayStableWhileProductsAreAdded(sort: String) async throws {
        try await withApp { app in
            let staff = try await app.signIn("staff@example.com", as: .staff)
            for index in 0..<7 {
                try await app.createProduct(TestApp.product(handle: "p\(index)", eur: 1000 + (index % 3) * 100), token: staff)
            }
            let base = "/v1/products?limit=3&currency=EUR&sort=\(sort)"
            let all = try await app.handles("/v1/products?limit=100&currency=EUR&sort=\(sort)")
            var seen: [String] = []
            var cursor: String?
            repeat {
                let uri = base + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await app.get(uri, token: nil).jsonObject()
                seen += (page["data"] as? [[String: Any]] ?? []).compactMap { $0["handle"] as? String }
                cursor = page["next_cursor"] as? String
                // A product added between pages does not shift or repeat what follows.
                try await app.createProduct(TestApp.product(handle: "new\(seen.count)", eur: 1000), token: staff)
            } while cursor != nil
            #expect(Set(seen).count == seen.count)
            #expect(Set(all).isSubset(of: Set(seen)))
        }
    }

    @Test func detailShowsVariantsPricesAndAStockBandByIdOrHandle() async throws {
        try await withApp { app in
            let staff = try await app.signIn("staff@example.com", as: .staff)
            let product = try await app.createProduct(TestApp.product(handle: "mug", sku: "MUG-1"), token: staff)
            let id = try #require(product["id"] as? String)
            let location = try await app.send(.post, "/v1/admin/inventory/locations", token: staff, json: #"{"code":"main","name":"Main"}"#).jsonObject()["id"] as! String
            let outOfStock = try await app.get("/v1/products/mug", token: nil).jsonObject()
            let variant = try #require((outOfStock["variants"] as? [[String: Any]])?.first)
            #expect((variant["availability"] as? [String: Any])?["status"] as? String == "out_of_stock")
            #expect(variant["low_stock_threshold"] == nil)

            let adjusted = try await app.send(.post, "/v1/admin/inventory/adjustments", token: staff, json: #"{"sku":"MUG-1","location_id":"\#(location)","delta":7,"reason":"received"}"#)
            #expect(adjusted.status == .created)
            let stocked = try await app.get("/v1/products/\(id)", token: nil).jsonObject()
            let availability = try #require(((stocked["variants"] as? [[String: Any]])?.first)?["availability"] as? [String: Any])
            #expect(availability["status"] as? String == "in_stock" && availability["quantity"] as? String == "5-19")
            #expect(try await app.handles("/v1/products?in_stock=true") == ["mug"])

            try await app.send(.patch, "/v1/admin/products/\(id)", token: staff, json: #"{"status":"archived"}"#)
            #expect(try await app.get("/v1/products/mug", token: nil).status == .notFound)
            #expect(try await app.get("/v1/products/\(String(repeating: "x", count: 300))", token: nil).status == .notFound)
        }
    }

    @Test func answersCarryETagsAnd304AndChangeRightAfterAWrite() async throws {
        try await withApp(configure: { $0.catalogMaxAge = 120 }) { app in
            let staff = try await app.signIn("staff@example.com", as: .staff)
            let product = try await app.createProduct(TestApp.product(handle: "mug", eur: 1000), token: staff)
            for uri in ["/v1/products", "/v1/products/mug", "/v1/categories"] {
                let first = try await app.get(uri, token: nil)
                let etag = try #require(first.headers[.eTag])
                #expect(etag.hasPrefix("\"") && !etag.hasPrefix("W/"))
                #expect(first.headers[.cacheControl] == "public, max-age=120")
                let again = try await app.http.execute(uri: uri, method: .get, headers: [.ifNoneMatch: etag])
                #expect(again.status == .notModified, "\(uri): \(etag) vs \(again.headers[.eTag] ?? "-"): \(first.text) vs \(again.text)")
                #expect(again.body.readableBytes == 0 && again.headers[.eTag] == etag)
                #expect(try await app.http.execute(uri: uri, method: .get, headers: [.ifNoneMatch: "\"other\""]).status == .ok)
            }
            let before = try await app.get("/v1/products/mug", token: nil)
            let variantID = try #require((product["variants"] as? [[String: Any]])?.first?["id"] as? String)
            try await app.send(
                .patch, "/v1/admin/products/\(product["id"] as! String)/variants/\(variantID)", token: staff,
                json: #"{"prices":[{"currency":"EUR","amount":1500}]}"#)
            let after = try await app.get("/v1/products/mug", token: nil)
            #expect(after.headers[.eTag] != before.headers[.eTag])
            #expect(after.text.contains("1500"))
            let list = try await app.get("/v1/products?currency=EUR&min_price=1400", token: nil)
            #expect(list.text.contains("\"mug\""))
        }
    }

    @Test(arguments: [
        "sort=cheapest", "limit=0", "limit=101", "limit=-5", "cursor=forged", "cursor=WyJuZXdlc3QiLCIiLCJ4Il0",
        "min_price=10", "currency=EURO", "currency=EUR&min_price=-1", "currency=EUR&max_price=1.5", "sort=price",
        "sort=relevance", "q=%21%21%21", "category=nope", "in_stock=yes", "q=" + String(repeating: "a", count: 300),
        "q=" + String(repeating: "ab+", count: 3500), "q=%FF%FE",
    ])
    func badListQueriesAre400(query: String) async throws {
        try await withApp { app in
            let response = try await app.get("/v1/products?\(query)", token: nil)
            #expect(response.status == .badRequest, "\(query): \(response.status) \(response.text)")
            #expect(response.headers[.contentType]?.hasPrefix("application/problem+json") == true)
        }
    }
}

/// Two API nodes on one PostgreSQL database: a write on one clears the other's cache.
@Suite(.enabled(if: TestDatabase.dialect == .postgres)) struct CatalogInvalidationTests {
    @Test func aPriceChangeOnOneNodeShowsOnTheOtherWithinASecond() async throws {
        try await withTwoNodes { writer, reader, auth in
            let created = try await writer.execute(
                uri: "/v1/admin/products", method: .post, headers: auth,
                body: ByteBuffer(string: TestApp.product(handle: "mug", eur: 1000)))
            let product = try created.jsonObject()
            let variant = try #require((product["variants"] as? [[String: Any]])?.first?["id"] as? String)

            // The reader caches the product, then the writer changes its price.
            let cached = try await reader.execute(uri: "/v1/products/mug", method: .get)
            #expect(cached.status == .ok && cached.text.contains("1000"))
            #expect(try await reader.execute(uri: "/v1/products/mug", method: .get).headers[.eTag] == cached.headers[.eTag])
            let changed = try await writer.execute(
                uri: "/v1/admin/products/\(product["id"] as! String)/variants/\(variant)", method: .patch, headers: auth,
                body: ByteBuffer(string: #"{"prices":[{"currency":"EUR","amount":1234}]}"#))
            #expect(changed.status == .ok)
            let deadline = ContinuousClock.now + .seconds(1)
            var seen = false
            while ContinuousClock.now < deadline, !seen {
                seen = try await reader.execute(uri: "/v1/products/mug", method: .get).text.contains("1234")
                if !seen { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(seen, "the second node still answered the old price after one second")
        }
    }
}

/// SQLite: another process writing the file (an import beside a running server) clears the
/// server's cache too, through the change log the import writes; other writes clear nothing.
@Suite(.enabled(if: TestDatabase.dialect == .sqlite)) struct SQLiteCacheInvalidationTests {
    @Test func aWriteByAnotherConnectionShowsWithinTwoSeconds() async throws {
        try await withApp { app in
            let staff = try await app.signIn("staff@example.com", as: .staff)
            try await app.createProduct(TestApp.product(handle: "mug", eur: 1000), token: staff)
            #expect(try await app.get("/v1/products/mug", token: nil).text.contains("1000"))
            // Give the watcher its first reading, then write from a handle of its own.
            try await Task.sleep(for: .milliseconds(700))
            guard case .sqliteFile(let path) = try DatabaseURL(parsing: app.database.displayName) else {
                Issue.record("not a file database")
                return
            }
            let other = try await SQLiteStorage.open(.sqliteFile(path: path), readerCount: 1, logger: Logger(label: "other"))
            // An unrelated write by the other process (here a sign-up's row) drops nothing.
            let etag = try await app.get("/v1/products/mug", token: nil).headers[.eTag]
            try await other.execute("UPDATE users SET name = 'Other' WHERE email = 'staff@example.com'")
            try await Task.sleep(for: .milliseconds(700))
            let before = try await app.cacheFigures("detail")
            #expect(try await app.get("/v1/products/mug", token: nil).headers[.eTag] == etag)
            #expect(try await app.cacheFigures("detail").misses == before.misses)
            // What `emporium import` does beside a running server.
            let csv = "handle,title,description,status,category,option1_name,option1_value,sku,price,currency,quantity\n"
                + "mug,,,,,Size,M,MUG-M,43.21,EUR,\n"
            let summary = try await CatalogImporter.run(Data(csv.utf8), database: other)
            #expect(summary.updated == 1, "\(summary.rejected)")
            await other.close()
            let deadline = ContinuousClock.now + .seconds(2)
            var seen = false
            while ContinuousClock.now < deadline, !seen {
                seen = try await app.get("/v1/products/mug", token: nil).text.contains("4321")
                if !seen { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(seen, "the server kept answering the old price after another process changed it")
        }
    }
}
