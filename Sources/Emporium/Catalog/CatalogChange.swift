import EmporiumCore
import EmporiumStorage
import Foundation

/// What a write changed, as far as storefront answers are concerned. Built by the code that
/// made the change (`CatalogService`, the importer and seeder, `InventoryStore`'s writes) and
/// recorded in the same transaction with `CatalogChanges.record`.
struct CatalogChange: Sendable, Equatable, Codable {
    /// Products whose own answers (detail, their line on a list page) changed.
    var products: Set<ID<Product>> = []
    /// Variants whose available stock changed (stock bands, in-stock flags).
    var stock: Set<ID<Variant>> = []
    /// The category tree changed (names, slugs, parents).
    var categories = false
    /// Which products a list or search shows, or in which order, may have changed: a product
    /// was added, archived, recategorised, renamed or repriced.
    var lists = false
    /// Too much to name (an import batch, a seed, raw SQL): every answer goes.
    var everything = false

    static let all = CatalogChange(everything: true)

    var isEmpty: Bool { products.isEmpty && stock.isEmpty && !categories && !lists && !everything }

    mutating func formUnion(_ other: CatalogChange) {
        products.formUnion(other.products)
        stock.formUnion(other.stock)
        categories = categories || other.categories
        lists = lists || other.lists
        everything = everything || other.everything
    }

    /// More names than this and the change is recorded as `everything`: one row stays small.
    static let maximumNames = 500

    var bounded: CatalogChange {
        products.count + stock.count > Self.maximumNames ? .all : self
    }

    enum CodingKeys: String, CodingKey {
        case products, stock, categories, lists, everything
    }

    init(
        products: Set<ID<Product>> = [], stock: Set<ID<Variant>> = [], categories: Bool = false, lists: Bool = false,
        everything: Bool = false
    ) {
        self.products = products
        self.stock = stock
        self.categories = categories
        self.lists = lists
        self.everything = everything
    }

    /// Compact JSON: empty members left out, ids sorted (the text is stable).
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if !products.isEmpty { try container.encode(products.sorted(), forKey: .products) }
        if !stock.isEmpty { try container.encode(stock.sorted(), forKey: .stock) }
        if categories { try container.encode(true, forKey: .categories) }
        if lists { try container.encode(true, forKey: .lists) }
        if everything { try container.encode(true, forKey: .everything) }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        products = Set(try container.decodeIfPresent([ID<Product>].self, forKey: .products) ?? [])
        stock = Set(try container.decodeIfPresent([ID<Variant>].self, forKey: .stock) ?? [])
        categories = try container.decodeIfPresent(Bool.self, forKey: .categories) ?? false
        lists = try container.decodeIfPresent(Bool.self, forKey: .lists) ?? false
        everything = try container.decodeIfPresent(Bool.self, forKey: .everything) ?? false
    }

    var json: String {
        String(decoding: (try? JSONEncoder().encode(self)) ?? Data(#"{"everything":true}"#.utf8), as: UTF8.self)
    }

    /// A row's payload; text this version does not understand clears everything.
    static func decode(_ text: String) -> CatalogChange {
        (try? JSONDecoder().decode(CatalogChange.self, from: Data(text.utf8))) ?? .all
    }
}

/// Where catalog changes are announced: the `catalog_changes` log (migration 12), written in
/// the transaction that makes the change, and on PostgreSQL also a notification on the
/// `emporium_catalog` channel, which PostgreSQL delivers when that transaction commits.
///
/// Decision (see docs/operations.md, "Storefront cache"): every node follows the log rather
/// than reacting to "something was written". SQLite has no notifications, and its
/// `data_version` moves on any write (a login, a cart), so a node polls the log four times a
/// second instead: one keyed read that finds nothing unless the catalog or stock changed, in
/// this process or another (`emporium import` beside a server). On PostgreSQL the notification
/// wakes the node at once; it reads the log too, because `Database.listen` hands over no
/// payload, and because the log also tells a node what it missed. Raw SQL that bypasses these
/// calls is not seen: an operator who edits the catalog by hand inserts a row with payload
/// `{"everything":true}` (docs/operations.md).
enum CatalogChanges {
    static let channel = "emporium_catalog"

    /// Records `change` in the transaction `db` belongs to; returns the log sequence number.
    @discardableResult
    static func record(_ change: CatalogChange, on db: any SQLExecutor) async throws -> Int64? {
        guard !change.isEmpty else { return nil }
        let payload = change.bounded.json
        // Informational only (operators reading the table); nothing orders by it.
        let now = Date()
        let insert: SQL = "INSERT INTO catalog_changes (payload, created_at) VALUES (\(payload), \(now)) RETURNING seq"
        guard db.dialect == .postgres else { return try await db.queryFirst(insert)?.decode("seq") ?? 0 }
        // The notice ({"seq":N,"change":{…}}) goes out with the insert, in one round trip. A
        // payload over PostgreSQL's 8000-byte limit would fail the transaction: then only the seq.
        let change: SQL = payload.utf8.count < 7_000 ? "',\"change\":' || \(payload)" : "''"
        return try await db.queryFirst("""
            WITH inserted AS (\(insert))
            SELECT seq, pg_notify(\(channel), '{"seq":' || seq || \(change) || '}') FROM inserted
            """)?.decode("seq") ?? 0
    }

    /// The hook for stock writes: call it in the transaction that changes the available stock
    /// of `variantIDs` (releases, shipments, adjustments, counts; reservations only where they
    /// may have moved a stock band, see `InventoryStore.reserve`). Every node's
    /// storefront cache then drops the answers showing those variants' stock bands: on this
    /// node and others within a second of the commit.
    static func stockChanged(variantIDs: some Sequence<ID<Variant>>, on db: any SQLExecutor) async throws {
        try await record(CatalogChange(stock: Set(variantIDs)), on: db)
    }

    /// A batch of products written in bulk (import, seed): every answer goes.
    static func bulkChange(on db: any SQLExecutor) async throws {
        try await record(.all, on: db)
    }

    /// The schema of the log, for migration 12.
    static func schema(for dialect: SQLDialect) -> [SQL] {
        let key: SQL = dialect == .postgres
            ? "seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
            // AUTOINCREMENT: numbers never come back after the newest rows are pruned.
            : "seq INTEGER PRIMARY KEY AUTOINCREMENT"
        return [
            """
            CREATE TABLE catalog_changes (
                \(key),
                payload TEXT NOT NULL,
                created_at TEXT NOT NULL
            )
            """
        ]
    }
}
