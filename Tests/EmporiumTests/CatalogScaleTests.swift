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
import ServiceLifecycle
import Synchronization
import Testing

@Suite struct CatalogSeedTests {
    @Test func seedingIsDeterministicRepeatableAndConsistent() async throws {
        try await withApp { app in
            let first = try await CatalogSeeder.seed(products: 150, database: app.database)
            #expect(first.products.created == 150 && first.categories.created == 25)
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

/// Query plans on a catalog of realistic size, on both engines: the storefront's reads are
/// recorded as the application runs them (a product page, the list with its filters, on a
/// cache miss), then each is explained. None may scan variants, prices or stock levels
/// whole; on PostgreSQL the list may not scan products either. The seeder refreshes the
/// planner's statistics itself, as `emporium seed` does, so the plans are the ones a freshly
/// seeded shop gets.
@Suite struct QueryPlanTests {
    /// The benchmark's catalog (about 20,000 variants, 40,000 prices, 20,000 stock levels):
    /// with 3,000 products PostgreSQL rightly prefers hashing all stock levels for a list
    /// page, so a smaller catalog would test the planner's arithmetic, not the indexes.
    /// Seeding takes about 2 s on SQLite and 7 s on PostgreSQL in a debug build.
    static let products = 10_000

    static let listQueries = [
        "", "limit=20", "category=clothing", "category=shirts&limit=20", "q=linen", "q=sturdy+oak&limit=20",
        "sort=price&currency=EUR", "currency=EUR&min_price=1000&max_price=5000", "sort=title", "in_stock=true",
    ]

    @Test func storefrontReadsUseIndexesNotASequentialScan() async throws {
        let recorder = StatementRecorder()
        try await withRecordingApp(recorder) { client, database in
            _ = try await CatalogSeeder.seed(products: Self.products, database: database)
            // The seeder refreshed the statistics itself (not autovacuum, not this test).
            let analyzed = try await Self.analyzedTables(on: database)
            #expect(Set(Self.watchedTables).isSubset(of: analyzed), "analyzed after seeding: \(analyzed.sorted())")
            recorder.start()
            var handles: [String] = []
            for query in Self.listQueries {
                let response = try await client.execute(uri: "/v1/products?\(query)", method: .get)
                #expect(response.status == .ok, "\(query): \(String(buffer: response.body))")
                if handles.isEmpty { handles = try Self.handles(in: response) }
            }
            // Product pages in the middle of the catalog, each a cache miss.
            for handle in handles.prefix(5) {
                let response = try await client.execute(uri: "/v1/products/\(handle)", method: .get)
                #expect(response.status == .ok, "\(handle): \(String(buffer: response.body))")
            }
            // Adding to a cart reads the variant (by SKU or by id) in the same statement as the cart.
            try await Self.addToANewCart(from: handles[0], client: client)
            let reads = recorder.stop().filter { Self.isRead($0, dialect: database.dialect) }
            let watched = reads.filter { statement in
                Self.watchedTables.contains { Self.mentions(statement.rendered(for: database.dialect).text, table: $0) }
            }
            // Variants with prices and the availability of a product page, the list's stock flags.
            #expect(watched.count >= 3, "the storefront's reads were not recorded: \(reads.count) reads")
            for statement in reads {
                let text = statement.rendered(for: database.dialect).text
                let (plan, scans) = try await Self.sequentialScans(statement, on: database)
                #expect(scans.isEmpty, "scans \(scans) in:\n\(text)\nplan:\n\(plan)")
            }
        }
    }

    static let watchedTables = ["variants", "prices", "inventory_levels"]

    static func addToANewCart(from handle: String, client: some TestClientProtocol) async throws {
        let page = try await client.execute(uri: "/v1/products/\(handle)", method: .get)
        let product = try JSONSerialization.jsonObject(with: Data(page.body.readableBytesView)) as? [String: Any]
        let variant = try #require((product?["variants"] as? [[String: Any]])?.first)
        let sku = try #require(variant["sku"] as? String), id = try #require(variant["id"] as? String)
        let json: HTTPFields = [.contentType: "application/json"]
        let created = try await client.execute(uri: "/v1/carts", method: .post, headers: json, body: ByteBuffer(string: #"{"currency":"EUR"}"#))
        let cart = try JSONSerialization.jsonObject(with: Data(created.body.readableBytesView)) as? [String: Any]
        let cartID = try #require(cart?["id"] as? String), secret = try #require(cart?["secret"] as? String)
        var headers = json
        headers[HTTPField.Name("X-Cart-Token")!] = secret
        for body in [#"{"sku":"\#(sku)","quantity":1}"#, #"{"variant_id":"\#(id)","quantity":1}"#] {
            let added = try await client.execute(uri: "/v1/carts/\(cartID)/items", method: .post, headers: headers, body: ByteBuffer(string: body))
            #expect(added.status == .ok, "\(body): \(String(buffer: added.body))")
        }
    }

    /// Tables with planner statistics taken by an explicit ANALYZE.
    static func analyzedTables(on db: any SQLExecutor) async throws -> Set<String> {
        let sql: SQL =
            switch db.dialect {
            case .postgres:
                "SELECT relname AS name FROM pg_stat_user_tables WHERE schemaname = current_schema() AND last_analyze IS NOT NULL"
            case .sqlite: "SELECT DISTINCT tbl AS name FROM sqlite_stat1"
            }
        return Set(try await db.query(sql).map { try $0.decode("name", as: String.self) })
    }

    static func handles(in response: TestResponse) throws -> [String] {
        let object = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
        return (object?["data"] as? [[String: Any]] ?? []).compactMap { $0["handle"] as? String }
    }

    static func isRead(_ statement: SQL, dialect: SQLDialect) -> Bool {
        let text = statement.rendered(for: dialect).text.drop(while: { $0.isWhitespace }).prefix(6).uppercased()
        return text == "SELECT" || text.hasPrefix("WITH")
    }

    static func mentions(_ text: String, table: String) -> Bool {
        text.range(of: "\\b\(table)\\b", options: [.regularExpression, .caseInsensitive]) != nil
    }

    /// The plan's text and the watched tables it reads whole: PostgreSQL's "Seq Scan on
    /// variants" (and products), SQLite's "SCAN v" for a table or its alias, with or without an
    /// index (a full index scan reads every row too), where "SEARCH … USING INDEX" is fine.
    static func sequentialScans(_ statement: SQL, on db: any SQLExecutor) async throws -> (String, [String]) {
        switch db.dialect {
        case .postgres:
            let plan = try await db.query("EXPLAIN \(statement)")
                .map { try $0.decode("QUERY PLAN", as: String.self) }.joined(separator: "\n")
            let scanned = (watchedTables + ["products"]).filter {
                plan.range(of: "Seq Scan on \($0)\\b", options: .regularExpression) != nil
            }
            return (plan, scanned)
        case .sqlite:
            let details = try await db.query("EXPLAIN QUERY PLAN \(statement)").map { try $0.decode("detail", as: String.self) }
            let text = statement.rendered(for: .sqlite).text
            var scanned: [String] = []
            for table in watchedTables {
                let names = [table] + aliases(of: table, in: text)
                if details.contains(where: { detail in
                    names.contains { detail.range(of: "^SCAN \($0)\\b", options: .regularExpression) != nil }
                }) {
                    scanned.append(table)
                }
            }
            return (details.joined(separator: "\n"), scanned)
        }
    }

    /// The names `table` goes by in `text`: "variants v", "variants AS v".
    static func aliases(of table: String, in text: String) -> [String] {
        let keywords: Set<String> = [
            "on", "where", "join", "left", "inner", "cross", "group", "order", "limit", "using", "set", "values", "union",
        ]
        let pattern = try! NSRegularExpression(pattern: "\\b\(table)\\s+(?:AS\\s+)?([A-Za-z_][A-Za-z0-9_]*)", options: .caseInsensitive)
        let range = NSRange(text.startIndex..., in: text)
        return pattern.matches(in: text, range: range).compactMap { match in
            Range(match.range(at: 1), in: text).map { String(text[$0]) }
        }.filter { !keywords.contains($0.lowercased()) }
    }
}

/// The statements run through a `RecordingDatabase` while recording is on.
final class StatementRecorder: Sendable {
    private let statements = Mutex<[SQL]?>(nil)

    func start() { statements.withLock { $0 = [] } }

    func stop() -> [SQL] { statements.withLock { recorded in defer { recorded = nil }; return recorded ?? [] } }

    func record(_ sql: SQL) { statements.withLock { $0?.append(sql) } }
}

/// A database that tells a recorder every statement run on it outside held connections.
struct RecordingDatabase: Database {
    let base: any Database
    let recorder: StatementRecorder

    var dialect: SQLDialect { base.dialect }
    var displayName: String { base.displayName }
    var statistics: DatabaseStatistics { base.statistics }

    func query(_ sql: SQL) async throws(DatabaseError) -> [SQLRow] {
        recorder.record(sql)
        return try await base.query(sql)
    }

    func transaction<Result: Sendable>(_ body: (any SQLExecutor) async throws -> Result) async throws -> Result {
        try await base.transaction { transaction in
            try await body(RecordingExecutor(base: transaction, recorder: recorder))
        }
    }

    func withConnection<Result: Sendable>(_ body: (any DatabaseConnection) async throws -> Result) async throws -> Result {
        try await base.withConnection(body)
    }

    func listen(
        on channel: String, onListening: @Sendable () -> Void, onNotification: @escaping @Sendable () -> Void
    ) async throws {
        try await base.listen(on: channel, onListening: onListening, onNotification: onNotification)
    }

    func close() async { await base.close() }

    func run() async throws { try await base.run() }
}

struct RecordingExecutor: SQLExecutor {
    let base: any SQLExecutor
    let recorder: StatementRecorder

    var dialect: SQLDialect { base.dialect }

    func query(_ sql: SQL) async throws(DatabaseError) -> [SQLRow] {
        recorder.record(sql)
        return try await base.query(sql)
    }
}

/// `withApp` with the application's database wrapped in a `RecordingDatabase`.
func withRecordingApp(
    _ recorder: StatementRecorder, _ test: @escaping @Sendable (any TestClientProtocol, any Database) async throws -> Void
) async throws {
    try await TestDatabase.withFresh { url in
        let configuration = TestDatabase.configuration(for: url)
        let logs = CapturingLogSink()
        let opened = try await openDatabase(configuration, logger: makeLogger(configuration, sink: logs))
        let database = RecordingDatabase(base: opened, recorder: recorder)
        let app = try await buildApplication(
            configuration, dependencies: AppDependencies(clock: ManualClock(Date()), logSink: logs, database: database))
        do {
            try await app.test(.router) { client in try await test(client.validatingResponses(), database) }
            await opened.close()
            try? FileManager.default.removeItem(atPath: configuration.mailFolder)
        } catch {
            await opened.close()
            throw error
        }
    }
}
