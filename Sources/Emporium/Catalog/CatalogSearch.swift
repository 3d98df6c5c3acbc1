import EmporiumCore
import EmporiumStorage
import Foundation

/// Full-text search over title, description and SKUs: FTS5 on SQLite, a weighted `tsvector`
/// with a GIN index on PostgreSQL. Both rank title and SKU matches above description ones,
/// and both treat each word of the query as a prefix, so that "swe" finds sweaters.
enum CatalogSearchSchema {
    static func statements(for dialect: SQLDialect) -> [SQL] {
        switch dialect {
        case .sqlite:
            [
                """
                CREATE VIRTUAL TABLE product_search USING fts5(
                    product_id UNINDEXED, title, skus, description, tokenize = 'unicode61 remove_diacritics 2'
                )
                """
            ]
        case .postgres:
            [
                "ALTER TABLE products ADD COLUMN search_vector tsvector NOT NULL DEFAULT ''::tsvector",
                "CREATE INDEX products_search ON products USING GIN (search_vector)",
            ]
        }
    }

    /// Rewrites the search entries of products from their current title, description and SKUs.
    static func refresh(_ productIDs: [ID<Product>], on db: any SQLExecutor) async throws {
        guard !productIDs.isEmpty else { return }
        let list = SQL.joined(productIDs.map { id -> SQL in "\(id)" }, separator: ", ")
        switch db.dialect {
        case .sqlite:
            try await db.execute("DELETE FROM product_search WHERE product_id IN (\(list))")
            try await db.execute("""
                INSERT INTO product_search (product_id, title, skus, description)
                SELECT p.id, p.title, COALESCE((SELECT group_concat(sku, ' ') FROM variants WHERE product_id = p.id), ''),
                       p.description
                FROM products p WHERE p.id IN (\(list))
                """)
        case .postgres:
            try await db.execute("""
                UPDATE products SET search_vector =
                    setweight(to_tsvector('simple', title), 'A')
                    || setweight(to_tsvector('simple', COALESCE(
                        (SELECT string_agg(sku || ' ' || replace(sku, '-', ' '), ' ') FROM variants WHERE product_id = products.id), '')), 'A')
                    || setweight(to_tsvector('simple', description), 'C')
                WHERE id IN (\(list))
                """)
        }
    }

    static func remove(_ productID: ID<Product>, on db: any SQLExecutor) async throws {
        if db.dialect == .sqlite {
            try await db.execute("DELETE FROM product_search WHERE product_id = \(productID)")
        }
    }

    /// The words of a query, lower-cased, letters and digits only: what both engines' query
    /// languages receive, so nothing a client types is read as query syntax. At most 8 words.
    static func words(_ query: String) -> [String] {
        let words = query.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
        return Array(words.filter { !$0.isEmpty }.prefix(8))
    }

    /// The engine's query text: every word as a prefix, all of them required.
    static func matchExpression(_ words: [String], for dialect: SQLDialect) -> String {
        switch dialect {
        case .sqlite: words.map { "\"\($0)\"*" }.joined(separator: " ")
        case .postgres: words.map { "\($0):*" }.joined(separator: " & ")
        }
    }
}
