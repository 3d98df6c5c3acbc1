import Emporium
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// `--database-read-url`: storefront catalog reads and the sales report come from the replica;
/// carts and checkout decide on the primary's stock, whatever the replica shows.
///
/// The test server has no streaming replica, so the "replica" is a second schema on it, filled
/// by copying the catalog's rows from the primary's, as replication would, and then left behind
/// (a replica that lags). It is no standby, so reads always find it caught up.
@Suite struct ReadReplicaTests {
    @Test func aReadReplicaNeedsPostgreSQLOnBothSides() throws {
        let postgres = "postgres://shop@127.0.0.1:5432/shop"
        let onSQLite = #expect(throws: ConfigurationError.self) {
            try AppConfiguration(flags: ["database-read-url": postgres], environment: [:])
        }
        #expect(onSQLite?.description.contains("--database-read-url") == true)
        #expect(onSQLite?.description.contains("PostgreSQL") == true)
        let sqliteReplica = #expect(throws: ConfigurationError.self) {
            try AppConfiguration(flags: ["database-url": postgres, "database-read-url": "sqlite://copy.sqlite"], environment: [:])
        }
        #expect(sqliteReplica?.description.contains("PostgreSQL only") == true)
        let both = try AppConfiguration(flags: ["database-url": postgres, "database-read-url": postgres + "?schema=copy"], environment: [:])
        #expect(both.databaseReadURL != nil)
        #expect(try AppConfiguration(flags: [:], environment: [:]).databaseReadURL == nil)
    }

    @Test func walPositionsParse() {
        #expect(ReadRouting.parseLSN("0/0") == 0)
        #expect(ReadRouting.parseLSN("16/B374D848") == 0x16_B374_D848)
        #expect(ReadRouting.parseLSN("nonsense") == nil)
    }

    @Test(.enabled(if: TestDatabase.postgresURL != nil, "PostgreSQL only"))
    func storefrontReadsComeFromTheReplicaAndStockChecksFromThePrimary() async throws {
        try await TestDatabase.withFresh { replicaURL in
            guard case .postgres(let replicaLocation) = replicaURL, let replicaSchema = replicaLocation.schema else {
                throw TestFailure("no schema in \(replicaURL)")
            }
            // The replica's tables, made by a start on it.
            try await withApp(configure: { $0.databaseURL = replicaURL }) { _ in }

            try await withApp(configure: { $0.databaseReadURL = replicaURL }) { app in
                let fixture = try await CommerceFixture(app, stock: 10)
                let primarySchema: String = try #require(
                    try await app.database.queryFirst("SELECT current_schema() AS name")?.decode("name"))
                // Replicated: the catalog as it is now, with a title only the copy has.
                try await Self.copyCatalog(app.database, from: primarySchema, to: replicaSchema)
                try await app.database.execute(
                    "UPDATE \(unsafeRaw: replicaSchema).products SET title = 'From the replica'")
                // Then the primary sells out but one, and the replica does not replay it.
                try await app.receive(-9, of: fixture.sku, at: fixture.location, token: fixture.admin)
                #expect(try await app.count("SELECT SUM(on_hand - reserved) AS n FROM inventory_levels") == 1)

                // The storefront reads the replica: its title, its stock band (10 units).
                let page = try await app.send(.get, "/v1/products/mug-1", token: nil)
                #expect(page.status == .ok, "\(page.text)")
                let product = try page.jsonObject()
                #expect(product["title"] as? String == "From the replica")
                let variant = try #require((product["variants"] as? [[String: Any]])?.first)
                let availability = try #require(variant["availability"] as? [String: Any])
                #expect(availability["quantity"] as? String == "5-19", "\(availability)")
                let list = try await app.send(.get, "/v1/products?q=mug", token: nil)
                #expect(list.text.contains("From the replica"), "\(list.text)")

                // A cart and checkout decide on the primary's stock: 5 are refused, 1 sells,
                // and then nothing more, while the page still shows 5-19.
                let greedy = try await app.newCart()
                let five = try await app.cart(greedy, .post, "/items", json: #"{"sku":"\#(fixture.sku)","quantity":5}"#)
                #expect(five.status == .conflict, "\(five.text)")
                let first = try await app.readyCart(fixture, quantity: 1)
                #expect(try await app.checkout(first).status == .created)
                let second = try await app.newCart()
                let more = try await app.cart(second, .post, "/items", json: #"{"sku":"\#(fixture.sku)","quantity":1}"#)
                #expect(more.status == .conflict, "\(more.text)")
                #expect(try await app.count("SELECT COUNT(*) AS n FROM orders") == 1)
                let still = try await app.send(.get, "/v1/products/mug-1", token: nil)
                #expect(still.text.contains("5-19"), "\(still.text)")

                // The sales report reads the replica too: the order is not there yet.
                let report = try await app.send(.get, "/v1/admin/reports/sales", token: fixture.admin)
                #expect(report.status == .ok, "\(report.text)")
                #expect((try report.jsonObject()["buckets"] as? [Any])?.isEmpty == true, "\(report.text)")
                // The admin's own catalog reads stay on the primary.
                let adminView = try await app.send(.get, "/v1/admin/products", token: fixture.admin)
                #expect(!adminView.text.contains("From the replica"))
            }
        }
    }

    /// What streaming replication would have copied of the catalog.
    static func copyCatalog(_ database: any Database, from source: String, to target: String) async throws {
        for table in ["categories", "products", "variants", "prices", "product_price_ranges", "stock_locations", "inventory_levels"] {
            try await database.execute("INSERT INTO \(unsafeRaw: target).\(unsafeRaw: table) SELECT * FROM \(unsafeRaw: source).\(unsafeRaw: table)")
        }
    }
}
