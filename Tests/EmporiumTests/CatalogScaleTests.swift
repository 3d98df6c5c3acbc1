@testable import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@Suite struct CatalogSeedTests {
    @Test func seedingIsDeterministicRepeatableAndConsistent() async throws {
        try await withApp { app in
            let first = try await CatalogSeeder.seed(products: 150, database: app.database)
            #expect(first.products == 150 && first.categories == 25)
            _ = try await CatalogSeeder.seed(products: 150, database: app.database)
            let counts = try #require(try await app.database.queryFirst("""
                SELECT (SELECT count(*) FROM products) AS products, (SELECT count(*) FROM variants) AS variants,
                       (SELECT count(*) FROM categories) AS categories, (SELECT count(*) FROM prices) AS prices
                """))
            #expect(try counts.decode("products", as: Int.self) == 150)
            #expect(try counts.decode("variants", as: Int.self) == first.variants)
            #expect(try counts.decode("prices", as: Int.self) == first.variants * 2)
            #expect(try counts.decode("categories", as: Int.self) == 25)
            // Every level equals the sum of its ledger rows.
            let drift = try await app.database.query("""
                SELECT l.variant_id FROM inventory_levels l
                LEFT JOIN (SELECT variant_id, location_id, SUM(on_hand_delta) AS total FROM inventory_movements
                           GROUP BY variant_id, location_id) m ON m.variant_id = l.variant_id AND m.location_id = l.location_id
                WHERE l.on_hand <> COALESCE(m.total, 0)
                """)
            #expect(drift.isEmpty)
            #expect(try await app.handles("/v1/products?q=oak&limit=100").count > 0)
            let page = try await app.get("/v1/products?category=clothing&sort=price&currency=EUR&limit=5", token: nil)
            #expect(page.status == .ok)
            // The same count gives the same catalog: the newest is always number 150.
            let newest = try await app.handles("/v1/products?limit=1")
            #expect(newest == ["warm-steel-bottle-150"])
        }
    }
}

/// Query plans on a catalog of realistic size: PostgreSQL only, where the planner chooses.
@Suite(.enabled(if: TestDatabase.dialect == .postgres)) struct QueryPlanTests {
    @Test func listingCategoryAndSearchUseIndexesNotASequentialScan() async throws {
        try await withApp { app in
            _ = try await CatalogSeeder.seed(products: 10_000, database: app.database)
            try await app.database.execute("ANALYZE")
            let categories = CategoryTree(try await CatalogStore().categories(on: app.database))
            for query in [
                "", "limit=20", "category=clothing", "category=shirts&limit=20", "q=linen", "q=sturdy+oak&limit=20",
                "sort=price&currency=EUR", "currency=EUR&min_price=1000&max_price=5000", "sort=title", "in_stock=true",
            ] {
                let list = try ProductListQuery(URI("/v1/products?\(query)"), categories: categories)
                let plan = try await app.database.query("EXPLAIN \(list.sql(for: .postgres))")
                    .map { try $0.decode("QUERY PLAN", as: String.self) }.joined(separator: "\n")
                #expect(!plan.contains("Seq Scan on products"), "\(query):\n\(plan)")
            }
        }
    }
}
