@testable import Emporium
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// `emporium seed` makes a shop a newcomer can buy from, and says honestly what it did.
@Suite struct SeedTests {
    @Test func aSeededShopSellsWithoutAnyAdminSetUp() async throws {
        try await withApp { app in
            let summary = try await CatalogSeeder.seed(products: 8, database: app.database)
            #expect(summary.products == .init(created: 8))
            #expect(summary.categories == .init(created: 25))
            #expect(summary.stockLocations == .init(created: 1))
            #expect(summary.shippingMethods == .init(created: 2))
            #expect(summary.taxRates == .init(created: 1))
            #expect(summary.changed)

            // A guest finds a product in stock, ships to Germany with the seeded method and pays.
            let listing = try await app.get("/v1/products?in_stock=true&limit=1", token: nil)
            let handle = try #require((try listing.jsonObject()["data"] as? [[String: Any]])?.first?["handle"] as? String)
            let product = try await app.get("/v1/products/\(handle)", token: nil).jsonObject()
            let variants = try #require(product["variants"] as? [[String: Any]])
            let sku = try #require(variants.first { ($0["availability"] as? [String: Any])?["status"] as? String == "in_stock" }?["sku"] as? String)
            let cart = try await app.newCart()
            for (method, suffix, body) in [
                (HTTPRequest.Method.post, "/items", #"{"sku":"\#(sku)","quantity":1}"#),
                (.put, "/email", #"{"email":"ada@example.com"}"#),
                (.put, "/shipping-address", #"{"recipient":"Ada Lovelace","line1":"1 Unter den Linden","city":"Berlin","postal_code":"10117","country":"DE"}"#),
            ] {
                let response = try await app.cart(cart, method, suffix, json: body)
                #expect(response.status == .ok, "\(suffix): \(response.text)")
            }
            let options = try #require(try await app.cart(cart, .get, "/shipping-options").jsonObject()["data"] as? [[String: Any]])
            #expect(options.count == 1)
            #expect(options.first?["name"] as? String == CatalogSeeder.shippingMethodName)
            #expect(options.first?["amount"] as? Int == Int(CatalogSeeder.shippingAmount))
            let method = try #require(options.first?["id"] as? String)
            #expect(try await app.cart(cart, .put, "/shipping-method", json: #"{"shipping_method_id":"\#(method)"}"#).status == .ok)
            let order = try await app.checkout(cart)
            #expect(order.status == .created, "\(order.text)")
            let totals = try #require(try order.jsonObject()["totals"] as? [String: Any])
            #expect(totals["shipping"] as? Int == Int(CatalogSeeder.shippingAmount))
            #expect((totals["tax"] as? Int ?? 0) > 0, "German VAT applies: \(totals)")

            // Every seeded currency ships.
            let dollars = try await app.newCart(currency: "USD")
            try await app.cart(dollars, .put, "/shipping-address", json: #"{"recipient":"Ada","line1":"1 Main St","city":"Springfield","country":"US"}"#)
            let dollarOptions = try await app.cart(dollars, .get, "/shipping-options").jsonObject()["data"] as? [[String: Any]]
            #expect(dollarOptions?.map { $0["currency"] as? String } == ["USD"])
        }
    }

    @Test func seedingTwiceChangesNothingAndSaysSo() async throws {
        try await withApp { app in
            let first = try await CatalogSeeder.seed(products: 10, database: app.database)
            let tables = ["products", "variants", "prices", "inventory_levels", "inventory_movements", "categories",
                          "stock_locations", "shipping_methods", "tax_rates"]
            let before = try await rowCounts(tables, app)

            let second = try await CatalogSeeder.seed(products: 10, database: app.database)
            #expect(!second.changed)
            #expect(second.products == .init(unchanged: 10))
            #expect(second.variants == 0)
            #expect(second.categories == .init(unchanged: 25))
            #expect(second.stockLocations == .init(unchanged: 1))
            #expect(second.shippingMethods == .init(unchanged: 2))
            #expect(second.taxRates == .init(unchanged: 1))
            #expect(try await rowCounts(tables, app) == before)

            // A larger count adds only the products that are new.
            let third = try await CatalogSeeder.seed(products: 15, database: app.database)
            #expect(third.products == .init(created: 5, unchanged: 10))
            #expect(third.variants > 0)
            #expect(try await app.count("SELECT count(*) AS n FROM products") == 15)
            #expect(try await app.count("SELECT count(*) AS n FROM variants") == Int64(first.variants + third.variants))
        }
    }

    @Test func seedingKeepsWhatAnAdminSetUp() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let express = try await app.send(
                .post, "/v1/admin/shipping-methods", token: admin, json: #"{"name":"Express","currency":"EUR","flat_amount":990}"#)
            #expect(express.status == .created)
            let reduced = try await app.send(.post, "/v1/admin/tax-rates", token: admin, json: #"{"country":"DE","name":"Reduced","rate_ppm":70000}"#)
            #expect(reduced.status == .created)

            let first = try await CatalogSeeder.seed(products: 2, database: app.database)
            // EUR ships already; only USD needed a method. Germany's rate is the admin's.
            #expect(first.shippingMethods == .init(created: 1, unchanged: 1))
            #expect(first.taxRates == .init(unchanged: 1))
            let methods = try await app.database.query("SELECT name, currency, active FROM shipping_methods ORDER BY currency")
            #expect(try methods.map { "\(try $0.decode("currency", as: String.self)) \(try $0.decode("name", as: String.self))" }
                == ["EUR Express", "USD \(CatalogSeeder.shippingMethodName)"])
            let rate = try #require(try await app.database.queryFirst("SELECT name, rate_ppm FROM tax_rates WHERE country = 'DE'"))
            #expect(try rate.decode("name", as: String.self) == "Reduced")
            #expect(try rate.decode("rate_ppm", as: Int64.self) == 70_000)

            // The seed's own method, switched off while nothing else ships in USD, comes back.
            let list = try await app.get("/v1/admin/shipping-methods", token: admin).jsonObject()["data"] as? [[String: Any]] ?? []
            let usd = try #require(list.first { $0["currency"] as? String == "USD" }?["id"] as? String)
            let off = try await app.send(
                .put, "/v1/admin/shipping-methods/\(usd)", token: admin,
                json: #"{"name":"\#(CatalogSeeder.shippingMethodName)","currency":"USD","flat_amount":490,"active":false}"#)
            #expect(off.status == .ok, "\(off.text)")
            let second = try await CatalogSeeder.seed(products: 2, database: app.database)
            #expect(second.shippingMethods == .init(updated: 1, unchanged: 1))
            #expect(second.changed)
            #expect(try await app.count("SELECT count(*) AS n FROM shipping_methods WHERE currency = 'USD' AND active = \(true)") == 1)
            #expect(try await app.count("SELECT count(*) AS n FROM shipping_methods") == 2)
        }
    }

    /// The command's own words, from the built binary (on an SQLite file: the wording does not
    /// depend on the engine, the counts above are tested on both).
    @Test func theCommandReportsCreatedThenUnchanged() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-seed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = "sqlite://\(folder.appendingPathComponent("shop.sqlite").path)"

        let first = try await runSeed(["seed", "--products", "3", "--database-url", url])
        #expect(first.status == 0, "\(first.output)")
        #expect(first.output.hasPrefix("Seeded the demo shop in "), "\(first.output)")
        #expect(first.output.contains("products:         3 created, 0 updated, 0 unchanged"), "\(first.output)")
        #expect(first.output.contains("shipping methods: 2 created, 0 updated, 0 unchanged"), "\(first.output)")
        #expect(first.output.contains("tax rates:        1 created, 0 updated, 0 unchanged"), "\(first.output)")

        let second = try await runSeed(["seed", "--products", "3", "--database-url", url])
        #expect(second.status == 0, "\(second.output)")
        #expect(second.output.hasPrefix("Nothing to seed"), "\(second.output)")
        #expect(second.output.contains("products:         0 created, 0 updated, 3 unchanged"), "\(second.output)")
        #expect(second.output.contains("stock locations:  0 created, 0 updated, 1 unchanged"), "\(second.output)")
        #expect(!second.output.contains("Seeded"), "\(second.output)")
    }

    private func rowCounts(_ tables: [String], _ app: TestApp) async throws -> [String: Int64] {
        var counts: [String: Int64] = [:]
        for table in tables {
            counts[table] = try await app.count("SELECT count(*) AS n FROM \(unsafeRaw: table)")
        }
        return counts
    }

    /// Runs the binary to completion (at most 60 s); its exit status and standard output.
    private func runSeed(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let process = ChildProcess()
        process.executableURL = ServerProcessTests.binary
        process.arguments = arguments + ["--log-level", "warning"]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("EMPORIUM_") }
        let outputPipe = Pipe()
        process.standardOutput = outputPipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        let text = String(decoding: outputPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, text)
    }
}
