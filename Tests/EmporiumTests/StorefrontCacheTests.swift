@testable import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import Testing

extension TestApp {
    /// The storefront cache's hits and misses so far, from `/metrics`, for one segment.
    func cacheFigures(_ segment: String) async throws -> (hits: Int, misses: Int) {
        let text = try await get("/metrics", token: nil).text
        func figure(_ name: String) -> Int {
            let prefix = "emporium_catalog_cache_\(name)_total{segment=\"\(segment)\"} "
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return 0 }
            return Int(Double(line.dropFirst(prefix.count)) ?? 0)
        }
        return (figure("hits"), figure("misses"))
    }

    /// Waits until `uri`'s body contains `text`, for up to `seconds`.
    func eventually(_ uri: String, contains text: String, within seconds: Double = 1) async throws -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await get(uri, token: nil).text.contains(text) { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await get(uri, token: nil).text.contains(text)
    }
}

/// What drops a cached storefront answer, and what does not.
@Suite struct StorefrontCacheTests {
    /// Longer than the SQLite change feed's poll, so that a change it would apply has been.
    static let feedSettles = Duration.milliseconds(700)

    @Test func aCartChangeOrALoginInvalidatesNothing() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app)
            let product = "/v1/products/mug-1"
            _ = try await app.get(product, token: nil)
            _ = try await app.get("/v1/products", token: nil)
            try await Task.sleep(for: Self.feedSettles)
            let before = try await app.cacheFigures("detail")
            let listBefore = try await app.cacheFigures("list")

            _ = try await app.register("shopper@example.com")
            let login = try await app.post("/v1/auth/login", json: #"{"email":"shopper@example.com","password":"correct horse battery"}"#)
            #expect(login.status == .ok)
            let cart = try await app.newCart()
            #expect(try await app.cart(cart, .post, "/items", json: #"{"sku":"\#(fixture.sku)","quantity":2}"#).status == .ok)
            try await Task.sleep(for: Self.feedSettles)

            #expect(try await app.get(product, token: nil).status == .ok)
            #expect(try await app.get("/v1/products", token: nil).status == .ok)
            let after = try await app.cacheFigures("detail")
            let listAfter = try await app.cacheFigures("list")
            #expect(after.misses == before.misses, "a cart change or a login dropped the product page")
            #expect(after.hits == before.hits + 1)
            #expect(listAfter.misses == listBefore.misses && listAfter.hits == listBefore.hits + 1)
        }
    }

    @Test func aPriceChangeShowsOnThisNodeAtOnceOnPageAndList() async throws {
        try await withApp { app in
            let staff = try await app.signIn("staff@example.com", as: .staff)
            let product = try await app.createProduct(TestApp.product(handle: "mug", eur: 1000), token: staff)
            try await app.createProduct(TestApp.product(handle: "plate", eur: 900), token: staff)
            let plate = try await app.get("/v1/products/plate", token: nil)
            #expect(try await app.get("/v1/products/mug", token: nil).text.contains("1000"))
            #expect(try await app.get("/v1/products?sort=price&currency=EUR", token: nil).text.contains("1000"))
            let variant = try #require((product["variants"] as? [[String: Any]])?.first?["id"] as? String)
            let changed = try await app.send(
                .patch, "/v1/admin/products/\(product["id"] as! String)/variants/\(variant)", token: staff,
                json: #"{"prices":[{"currency":"EUR","amount":1234}]}"#)
            #expect(changed.status == .ok)
            // No waiting: the node that wrote applies the change right after its commit.
            #expect(try await app.get("/v1/products/mug", token: nil).text.contains("1234"))
            #expect(try await app.get("/v1/products?sort=price&currency=EUR", token: nil).text.contains("1234"))
            // Another product's page is not touched.
            let before = try await app.cacheFigures("detail")
            #expect(try await app.get("/v1/products/plate", token: nil).headers[.eTag] == plate.headers[.eTag])
            #expect(try await app.cacheFigures("detail").hits == before.hits + 1)
        }
    }

    @Test func aCheckoutUpdatesTheStockBandWithinASecond() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: 6)
            let page = "/v1/products/mug-1"
            #expect(try await app.get(page, token: nil).text.contains(#""5-19""#))
            let cart = try await app.readyCart(fixture, quantity: 3)
            let order = try await app.checkout(cart)
            #expect(order.status == .created || order.status == .ok, "\(order.text)")
            #expect(try await app.eventually(page, contains: #""1-4""#), "the stock band stayed at 5-19 after the checkout")
        }
    }

    @Test func aCheckoutThatLeavesTheStockBandAloneKeepsTheCachedPage() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: 23)
            let page = "/v1/products/mug-1"
            let changes = { try await app.database.queryFirst("SELECT COUNT(*) AS n FROM catalog_changes")?.decode("n", as: Int64.self) }
            // The fixture's stock is announced too; once applied, only a new change drops the page.
            try await Task.sleep(for: Self.feedSettles)
            #expect(try await app.get(page, token: nil).text.contains(#""20+""#))
            let logged = try await changes()
            // 23 → 20: still "20+", so nothing is announced and the cached page stays.
            #expect(try await app.checkout(try await app.readyCart(fixture, quantity: 3)).status == .created)
            #expect(try await changes() == logged, "a checkout that moved no stock band was announced")
            try await Task.sleep(for: Self.feedSettles)
            let before = try await app.cacheFigures("detail")
            #expect(try await app.get(page, token: nil).text.contains(#""20+""#))
            #expect(try await app.cacheFigures("detail").hits == before.hits + 1)
            // 20 → 19 crosses into "5-19": announced, and the page shows it.
            #expect(try await app.checkout(try await app.readyCart(fixture, quantity: 1)).status == .created)
            #expect(try await changes() == logged.map { $0 + 1 })
            #expect(try await app.eventually(page, contains: #""5-19""#), "the stock band stayed at 20+ after the checkout")
        }
    }

    /// Stocked at two locations, a reservation sees another location's only once committed:
    /// PostgreSQL, whose checkouts of one variant can then run side by side, announces every
    /// one; SQLite, whose writer takes them in turn, only those that moved the band.
    @Test func aVariantAtTwoLocationsShowsTheBandOfItsTotal() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: 3)
            let back = try await app.send(.post, "/v1/admin/inventory/locations", token: fixture.admin, json: #"{"code":"back","name":"Back"}"#)
            try await app.receive(3, of: fixture.sku, at: try #require(try back.jsonObject()["id"] as? String), token: fixture.admin)
            let page = "/v1/products/mug-1"
            let changes = { try await app.database.queryFirst("SELECT COUNT(*) AS n FROM catalog_changes")?.decode("n", as: Int64.self) }
            #expect(try await app.eventually(page, contains: #""5-19""#))
            // 6 → 3: into "1-4", announced on both.
            let logged = try await changes()
            #expect(try await app.checkout(try await app.readyCart(fixture, quantity: 3)).status == .created)
            #expect(try await changes() == logged.map { $0 + 1 })
            #expect(try await app.eventually(page, contains: #""1-4""#), "the stock band stayed at 5-19 after the checkout")
            // 3 → 2: still "1-4", announced on PostgreSQL only.
            #expect(try await app.checkout(try await app.readyCart(fixture, quantity: 1)).status == .created)
            #expect(try await changes() == logged.map { $0 + (TestDatabase.dialect == .postgres ? 2 : 1) })
        }
    }

    /// Checkouts at once, which between them move the band (or, split over two locations, sell
    /// out): however they interleave, the page ends showing the band of what is left.
    @Test(arguments: [[5], [2, 3]])
    func concurrentCheckoutsLeaveThePageAtTheBandOfWhatIsLeft(stocked: [Int]) async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: stocked[0])
            for units in stocked.dropFirst() {
                let other = try await app.send(
                    .post, "/v1/admin/inventory/locations", token: fixture.admin, json: #"{"code":"other","name":"Other"}"#)
                try await app.receive(units, of: fixture.sku, at: try #require(try other.jsonObject()["id"] as? String), token: fixture.admin)
            }
            let page = "/v1/products/mug-1"
            #expect(try await app.eventually(page, contains: #""5-19""#))
            var carts: [TestCart] = []
            for _ in 0..<5 { carts.append(try await app.readyCart(fixture, quantity: 1)) }
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for cart in carts { group.addTask { try await app.checkout(cart).status } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == .created }, "\(statuses)")
            #expect(try await app.eventually(page, contains: #""out_of_stock""#), "the page kept a stock band after the last unit sold")
        }
    }

    @Test(arguments: [
        "/v1/products?colour=red", "/v1/products?limit=5&limit=6", "/v1/products?sort=title&utm_source=x",
        "/v1/products/mug?v=2", "/v1/categories?depth=1", "/v1/products?cursor=%00%01junk",
    ])
    func unknownParametersAndJunkAre400BeforeTheCache(uri: String) async throws {
        try await withApp { app in
            let staff = try await app.signIn("staff@example.com", as: .staff)
            try await app.createProduct(TestApp.product(handle: "mug"), token: staff)
            let segments = ["detail", "list", "search", "categories"]
            var before: [Int] = []
            for segment in segments { before.append(try await app.cacheFigures(segment).misses) }
            let response = try await app.get(uri, token: nil)
            #expect(response.status == .badRequest, "\(uri): \(response.status) \(response.text)")
            #expect(response.headers[.contentType]?.hasPrefix("application/problem+json") == true)
            var after: [Int] = []
            for segment in segments { after.append(try await app.cacheFigures(segment).misses) }
            #expect(after == before, "\(uri) reached the cache")
        }
    }

    @Test func parameterOrderAndWrittenDefaultsShareOneEntry() async throws {
        try await withApp { app in
            let staff = try await app.signIn("staff@example.com", as: .staff)
            try await app.send(.post, "/v1/admin/categories", token: staff, json: #"{"slug":"kitchen","name":"Kitchen"}"#)
            try await app.createProduct(TestApp.product(handle: "mug"), token: staff)
            let first = try await app.get("/v1/products?currency=EUR&sort=price&category=kitchen", token: nil)
            #expect(first.status == .ok)
            let start = try await app.cacheFigures("list")
            for uri in [
                "/v1/products?sort=price&category=kitchen&currency=EUR",
                "/v1/products?category=kitchen&currency=EUR&sort=price&limit=20",
            ] {
                #expect(try await app.get(uri, token: nil).headers[.eTag] == first.headers[.eTag])
            }
            let end = try await app.cacheFigures("list")
            #expect(end.misses == start.misses && end.hits == start.hits + 2)
        }
    }

    @Test func hitsAndMissesShowInMetrics() async throws {
        try await withApp { app in
            let staff = try await app.signIn("staff@example.com", as: .staff)
            try await app.createProduct(TestApp.product(handle: "mug"), token: staff)
            for _ in 0..<3 { _ = try await app.get("/v1/products/mug", token: nil) }
            // Not found is never stored: each is a miss, and none evicts anything.
            for _ in 0..<2 { #expect(try await app.get("/v1/products/no-such-thing", token: nil).status == .notFound) }
            let figures = try await app.cacheFigures("detail")
            #expect(figures.hits == 2 && figures.misses == 3)
            let text = try await app.get("/metrics", token: nil).text
            #expect(text.contains("emporium_catalog_cache_entries 1"))
        }
    }
}

/// The cache's own rules, without HTTP.
@Suite struct CatalogCacheUnitTests {
    static func entry(_ text: String) -> CatalogCache.Entry {
        CatalogCache.makeEntry(ByteBuffer(string: text))
    }

    @Test func eachSegmentIsABoundedLRUThatEvictsOnlyItsOwnKind() {
        let cache = CatalogCache(capacity: 108)
        let list = CatalogCache.Key(segment: .list, text: "sort=newest&limit=20")
        cache.store(Self.entry("list"), for: list, dependsOn: [.lists], computedAt: cache.lookup(list).generation)
        let detailCapacity = 100 * 55 / 100
        let kept = CatalogCache.Key(segment: .detail, text: "kept")
        cache.store(Self.entry("kept"), for: kept, dependsOn: [], computedAt: 0)
        // A storm of distinct product handles; the first stays in use.
        for index in 0..<1_000 {
            let key = CatalogCache.Key(segment: .detail, text: "handle-\(index)")
            cache.store(Self.entry("\(index)"), for: key, dependsOn: [], computedAt: 0)
            #expect(cache.lookup(kept).entry != nil)
        }
        #expect(cache.count(in: .detail) == detailCapacity)
        #expect(cache.lookup(list).entry != nil, "a storm of product pages evicted a list")
        #expect(cache.lookup(.init(segment: .detail, text: "handle-0")).entry == nil)
        #expect(cache.lookup(.init(segment: .detail, text: "handle-999")).entry != nil)
    }

    @Test func aChangeDropsOnlyWhatDependsOnIt() throws {
        let cache = CatalogCache()
        let mug = try #require(ID<Product>("0190a0a0-0000-7000-8000-000000000001"))
        let plate = try #require(ID<Product>("0190a0a0-0000-7000-8000-000000000002"))
        let cup = try #require(ID<Variant>("0190a0a0-0000-7000-8000-000000000003"))
        let mugPage = CatalogCache.Key(segment: .detail, text: "mug")
        let platePage = CatalogCache.Key(segment: .detail, text: "plate")
        let inStock = CatalogCache.Key(segment: .list, text: "in_stock=true")
        cache.store(Self.entry("mug"), for: mugPage, dependsOn: [.product(mug), .stock(cup)], computedAt: 0)
        cache.store(Self.entry("plate"), for: platePage, dependsOn: [.product(plate)], computedAt: 0)
        cache.store(Self.entry("in stock"), for: inStock, dependsOn: [.lists, .anyStock], computedAt: 0)

        cache.apply(CatalogChange(stock: [cup]))
        #expect(cache.lookup(mugPage).entry == nil && cache.lookup(inStock).entry == nil)
        #expect(cache.lookup(platePage).entry != nil)

        // An answer computed before a change it depends on is not stored; others are.
        let generation = cache.lookup(mugPage).generation
        cache.apply(CatalogChange(products: [plate]))
        cache.store(Self.entry("mug"), for: mugPage, dependsOn: [.product(mug)], computedAt: generation)
        cache.store(Self.entry("plate"), for: platePage, dependsOn: [.product(plate)], computedAt: generation)
        #expect(cache.lookup(mugPage).entry != nil)
        #expect(cache.lookup(platePage).entry == nil)
    }

    @Test func changesRoundTripThroughTheLogText() throws {
        let variant = try #require(ID<Variant>("0190a0a0-0000-7000-8000-000000000003"))
        let change = CatalogChange(stock: [variant], lists: true)
        #expect(CatalogChange.decode(change.json) == change)
        #expect(CatalogChange.decode("not json") == .all)
    }
}

/// Two API nodes on one PostgreSQL database: a stock change on one shows in the other's
/// cached product page within a second, through the change log and its notification.
@Suite(.enabled(if: TestDatabase.dialect == .postgres)) struct CatalogStockAcrossNodesTests {
    @Test func aStockChangeOnOneNodeShowsOnTheOtherWithinASecond() async throws {
        try await withTwoNodes { writer, reader, auth in
            func send(_ method: HTTPRequest.Method, _ uri: String, _ json: String) async throws -> TestResponse {
                var headers = auth
                if method == .post, uri.hasSuffix("adjustments") { headers[HTTPField.Name("Idempotency-Key")!] = UUID().uuidString }
                return try await writer.execute(uri: uri, method: method, headers: headers, body: ByteBuffer(string: json))
            }
            _ = try await send(.post, "/v1/admin/products", TestApp.product(handle: "mug", sku: "MUG-1"))
            let location = try #require(
                try await send(.post, "/v1/admin/inventory/locations", #"{"code":"main","name":"Main"}"#).jsonObject()["id"] as? String)
            let adjust = #"{"sku":"MUG-1","location_id":"\#(location)","delta":DELTA,"reason":"received"}"#
            #expect(try await send(.post, "/v1/admin/inventory/adjustments", adjust.replacingOccurrences(of: "DELTA", with: "7")).status == .created)
            // The reader caches the page, then the writer takes stock away.
            let deadline = ContinuousClock.now + .seconds(1)
            var cached = false
            while !cached, ContinuousClock.now < deadline {
                cached = String(buffer: try await reader.execute(uri: "/v1/products/mug", method: .get).body).contains(#""5-19""#)
            }
            #expect(cached)
            let taken = try await send(
                .post, "/v1/admin/inventory/adjustments",
                adjust.replacingOccurrences(of: "DELTA", with: "-4").replacingOccurrences(of: "received", with: "damaged"))
            #expect(taken.status == .created, "\(String(buffer: taken.body))")
            let shown = ContinuousClock.now + .seconds(1)
            var seen = false
            while ContinuousClock.now < shown, !seen {
                seen = String(buffer: try await reader.execute(uri: "/v1/products/mug", method: .get).body).contains(#""1-4""#)
                if !seen { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(seen, "the second node still showed the old stock band after one second")
        }
    }
}
