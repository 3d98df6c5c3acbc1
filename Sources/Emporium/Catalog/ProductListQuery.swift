import EmporiumCore
import EmporiumStorage
import Foundation
import Hummingbird
import HummingbirdCore

/// `GET /v1/products` parameters, checked, and the SQL they become. Every sort pages by a
/// keyset (sort value, id), so pages stay stable while products are added.
struct ProductListQuery: Sendable {
    enum Sort: String, Sendable, CaseIterable {
        case relevance, price
        case priceDescending = "-price"
        case newest, title
    }

    static let maximumQueryBytes = 2048

    /// Everything `GET /v1/products` understands; anything else is refused (400), so that junk
    /// parameters can neither hide a mistake nor split the cache.
    static let parameters: Set<String> = [
        "q", "category", "currency", "min_price", "max_price", "in_stock", "sort", "limit", "cursor",
    ]

    let sort: Sort
    let words: [String]
    let categoryIDs: [ID<Category>]?
    let currency: String?
    let minPrice: Int64?
    let maxPrice: Int64?
    let inStock: Bool
    let limit: Int
    /// Sort value and id of the last product of the previous page.
    let after: (key: String, id: String)?
    /// The category asked for, by id (a slug and an id name the same list).
    let categoryID: ID<Category>?

    init(_ uri: URI, categories: CategoryTree) throws {
        guard (uri.query?.utf8.count ?? 0) <= Self.maximumQueryBytes else {
            throw Problem.badRequest("The query string is longer than \(Self.maximumQueryBytes) bytes.")
        }
        // Only an escape can be malformed; most queries have none, and the check is costly.
        if let raw = uri.query, raw.utf8.contains(UInt8(ascii: "%")),
            raw.replacingOccurrences(of: "+", with: " ").removingPercentEncoding == nil
        {
            throw Problem.badRequest("The query string is not valid percent-encoded UTF-8.")
        }
        let query = uri.queryParameters
        var errors: [Problem.FieldError] = []
        func fail(_ parameter: String, _ detail: String) { errors.append(.init(parameter: parameter, detail: detail)) }
        errors += Self.unknownOrRepeated(query, allowed: Self.parameters)

        var words: [String] = []
        if let q = query["q"] {
            words = CatalogSearchSchema.words(String(q))
            if q.count > 200 { fail("q", "must be at most 200 characters") } else if words.isEmpty { fail("q", "must contain a letter or digit") }
        }
        var sort: Sort = words.isEmpty ? .newest : .relevance
        if let text = query["sort"] {
            if let value = Sort(rawValue: String(text)) { sort = value } else {
                fail("sort", "must be one of " + Sort.allCases.map(\.rawValue).joined(separator: ", "))
            }
        }
        if sort == .relevance, words.isEmpty { fail("sort", "relevance needs a search (q)") }

        var currency: String?
        if let text = query["currency"] {
            if Currency(code: String(text)) != nil { currency = String(text) } else { fail("currency", "must be an ISO 4217 code such as EUR") }
        }
        func amount(_ name: String) -> Int64? {
            guard let text = query[Substring(name)] else { return nil }
            guard let value = Int64(String(text)), value >= 0 else {
                fail(name, "must be a whole number of minor units (cents), 0 or more")
                return nil
            }
            if query["currency"] == nil { fail(name, "needs currency") }
            return value
        }
        let minPrice = amount("min_price")
        let maxPrice = amount("max_price")
        if [.price, .priceDescending].contains(sort), query["currency"] == nil { fail("sort", "price sorts need currency") }

        var inStock = false
        if let text = query["in_stock"] {
            switch text {
            case "true": inStock = true
            case "false": inStock = false
            default: fail("in_stock", "must be true or false")
            }
        }
        var categoryIDs: [ID<Category>]?
        var categoryID: ID<Category>?
        if let key = query["category"] {
            if let category = categories.category(slugOrID: String(key)) {
                categoryIDs = categories.subtree(of: category.id)
                categoryID = category.id
            } else {
                fail("category", "names no category")
            }
        }
        var limit = PageRequest.defaultLimit
        if let text = query["limit"] {
            if let value = Int(String(text)), (1...PageRequest.maximumLimit).contains(value) { limit = value } else {
                fail("limit", "must be a whole number from 1 to \(PageRequest.maximumLimit)")
            }
        }
        var after: (String, String)?
        if let cursor = query["cursor"], !cursor.isEmpty {
            if let values = KeysetCursor.decode(String(cursor), count: 3), values[0] == sort.rawValue, UUID(canonical: values[2]) != nil,
                sort == .newest || sort == .title || Double(values[1]) != nil
            {
                after = (values[1], values[2])
            } else {
                fail("cursor", "is not a cursor this API issued for this sort")
            }
        }
        guard errors.isEmpty else { throw Problem.validation(errors, detail: "The query has invalid parameters.") }
        self.sort = sort
        self.words = words
        self.categoryIDs = categoryIDs
        self.currency = currency
        self.minPrice = minPrice
        self.maxPrice = maxPrice
        self.inStock = inStock
        self.limit = limit
        self.after = after
        self.categoryID = categoryID
    }

    /// The parameters that are not `allowed`, or given more than once, as field errors.
    static func unknownOrRepeated(_ uri: URI, allowed: Set<String>) -> [Problem.FieldError] {
        unknownOrRepeated(uri.queryParameters, allowed: allowed)
    }

    static func unknownOrRepeated(_ parameters: FlatDictionary<Substring, Substring>, allowed: Set<String>) -> [Problem.FieldError] {
        var seen = Set<Substring>()
        var errors: [Problem.FieldError] = []
        for (name, _) in parameters {
            let shown = String(name.prefix(40))
            if !allowed.contains(String(name)) {
                errors.append(.init(parameter: shown, detail: "is not a parameter of this endpoint"))
            } else if !seen.insert(name).inserted {
                errors.append(.init(parameter: shown, detail: "must be given once"))
            }
            if errors.count >= 10 { break }
        }
        return errors
    }

    /// The cache key: the parsed query in one fixed order, so that parameter order, defaults
    /// written out and a category's slug or id give one key.
    var cacheKey: CatalogCache.Key {
        var text = "sort=\(sort.rawValue)&limit=\(limit)"
        if !words.isEmpty { text += "&q=" + words.joined(separator: " ") }
        if let categoryID { text += "&category=\(categoryID)" }
        if let currency { text += "&currency=\(currency)" }
        if let minPrice { text += "&min_price=\(minPrice)" }
        if let maxPrice { text += "&max_price=\(maxPrice)" }
        if inStock { text += "&in_stock=true" }
        if let after { text += "&after=\(after.key.count):\(after.key)\(after.id)" }
        return CatalogCache.Key(segment: words.isEmpty ? .list : .search, text: text)
    }

    /// The ids and sort keys of one page (one more row than the limit, to tell whether a
    /// next page exists).
    func sql(for dialect: SQLDialect) -> SQL {
        var joins: [SQL] = []
        var conditions: [SQL] = ["p.status = 'active'"]
        var sortKey: SQL = "''"
        if let currency {
            joins.append("JOIN product_price_ranges r ON r.product_id = p.id AND r.currency = \(currency)")
            if let minPrice { conditions.append("r.min_amount >= \(minPrice)") }
            if let maxPrice { conditions.append("r.min_amount <= \(maxPrice)") }
        }
        if !words.isEmpty {
            let match = CatalogSearchSchema.matchExpression(words, for: dialect)
            switch dialect {
            case .sqlite:
                // bm25: lower is better; title and SKU count more than the description.
                joins.append("""
                    JOIN (SELECT product_id, bm25(product_search, 0, 10, 10, 1) AS rank FROM product_search
                          WHERE product_search MATCH \(match)) s ON s.product_id = p.id
                    """)
                if sort == .relevance { sortKey = "s.rank" }
            case .postgres:
                conditions.append("p.search_vector @@ to_tsquery('simple', \(match))")
                if sort == .relevance { sortKey = "CAST(-ts_rank(p.search_vector, to_tsquery('simple', \(match))) AS DOUBLE PRECISION)" }
            }
        }
        if let categoryIDs {
            conditions.append("p.category_id IN (" + SQL.joined(categoryIDs.map { id -> SQL in "\(id)" }, separator: ", ") + ")")
        }
        if inStock {
            conditions.append("""
                EXISTS (SELECT 1 FROM variants v JOIN inventory_levels l ON l.variant_id = v.id
                        WHERE v.product_id = p.id AND l.on_hand - l.reserved > 0)
                """)
        }
        switch sort {
        case .price, .priceDescending: sortKey = "r.min_amount"
        case .title: sortKey = "p.title"
        case .newest, .relevance: break
        }
        var keyset: SQL = "TRUE"
        let order: SQL
        switch sort {
        case .newest:
            if let after { keyset = "id < \(after.id)" }
            order = "id DESC"
        case .priceDescending:
            if let after, let key = Int64(after.key) { keyset = "(sort_key < \(key) OR (sort_key = \(key) AND id < \(after.id)))" }
            order = "sort_key DESC, id DESC"
        case .price:
            if let after, let key = Int64(after.key) { keyset = "(sort_key > \(key) OR (sort_key = \(key) AND id > \(after.id)))" }
            order = "sort_key, id"
        case .title:
            if let after { keyset = "(sort_key > \(after.key) OR (sort_key = \(after.key) AND id > \(after.id)))" }
            order = "sort_key, id"
        case .relevance:
            if let after, let key = Double(after.key) { keyset = "(sort_key > \(key) OR (sort_key = \(key) AND id > \(after.id)))" }
            order = "sort_key, id"
        }
        return """
            SELECT id, sort_key FROM (
                SELECT p.id AS id, \(sortKey) AS sort_key FROM products p \(SQL.joined(joins, separator: " "))
                WHERE \(SQL.joined(conditions, separator: " AND "))
            ) page WHERE \(keyset) ORDER BY \(order) LIMIT \(limit + 1)
            """
    }

    func cursor(sortKey: String, id: String) -> String {
        KeysetCursor.encode([sort.rawValue, sortKey, id])
    }
}
