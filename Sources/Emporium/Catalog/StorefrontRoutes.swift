import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The public catalog: `GET /v1/products`, `GET /v1/products/{id_or_handle}` and
/// `GET /v1/categories`. Answers are cached in memory until the next catalog or stock write,
/// carry a strong ETag and `Cache-Control: public`, and `If-None-Match` gets 304.
struct StorefrontRoutes {
    let database: any Database
    let store: CatalogStore
    let inventory: InventoryStore
    let cache: CatalogCache
    let maxAge: Int

    struct PriceRange: Codable, Sendable {
        let currency: String
        let minAmount: Int64
        let maxAmount: Int64

        enum CodingKeys: String, CodingKey {
            case currency
            case minAmount = "min_amount"
            case maxAmount = "max_amount"
        }
    }

    struct ProductSummary: Codable, Sendable {
        let id: String
        let handle: String
        let title: String
        let categoryID: String?
        let tags: [String]
        let image: Product.Image?
        let prices: [PriceRange]
        let inStock: Bool

        enum CodingKeys: String, CodingKey {
            case id, handle, title, tags, image, prices
            case categoryID = "category_id"
            case inStock = "in_stock"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(handle, forKey: .handle)
            try container.encode(title, forKey: .title)
            try container.encode(categoryID, forKey: .categoryID)
            try container.encode(tags, forKey: .tags)
            try container.encode(image, forKey: .image)
            try container.encode(prices, forKey: .prices)
            try container.encode(inStock, forKey: .inStock)
        }
    }

    struct CategoryTreeResponse: Codable, Sendable {
        let data: [CategoryResponse]
    }

    func register(on routes: RouteRegistrar) {
        routes.get("/v1/products") { request, context in
            try await cached(request, context: context) { try await list(request) }
        }
        routes.get("/v1/products/:id_or_handle") { request, context in
            try await cached(request, context: context) {
                let key = context.parameters.get("id_or_handle") ?? ""
                guard key.utf8.count <= 100, let row = try await store.productRow(idOrHandle: key, on: database),
                    row.status == .active
                else { throw Problem.notFound("There is no product with this id or handle.") }
                // Variants with prices, and stock: two reads at once.
                async let variants = store.variants(of: [row.id], on: database)
                async let available = inventory.available(ofProduct: row.id, on: database)
                var product = row
                product.variants = try await variants[row.id] ?? []
                let stock = try await available
                return ProductResponse(
                    product, variants: product.variants.map { .storefront($0, available: stock[$0.id] ?? 0) })
            }
        }
        routes.get("/v1/categories") { request, context in
            try await cached(request, context: context) {
                CategoryTreeResponse(data: CategoryResponse.tree(CategoryTree(try await store.categories(on: database))))
            }
        }
    }

    private func list(_ request: Request) async throws -> Page<ProductSummary> {
        let categories = CategoryTree(try await store.categories(on: database))
        let query = try ProductListQuery(request.uri, categories: categories)
        let rows = try await database.query(query.sql(for: database.dialect))
        let ids: [ID<Product>] = try rows.map { try $0.decode("id") }
        var sortKeys: [String: String] = [:]
        for row in rows {
            let key: String
            switch query.sort {
            case .title, .newest: key = (try? row.decode("sort_key", as: String.self)) ?? ""
            case .price, .priceDescending: key = String(try row.decode("sort_key", as: Int64.self))
            case .relevance: key = String(try row.decode("sort_key", as: Double.self))
            }
            sortKeys[try row.decode("id", as: String.self)] = key
        }
        let summaries = try await summaries(ids)
        return Page(summaries, limit: query.limit, cursor: { query.cursor(sortKey: sortKeys[$0.id] ?? "", id: $0.id) })
    }

    /// The list entries for `ids`, in that order: three queries for the whole page.
    private func summaries(_ ids: [ID<Product>]) async throws -> [ProductSummary] {
        guard !ids.isEmpty else { return [] }
        let list = SQL.joined(ids.map { id -> SQL in "\(id)" }, separator: ", ")
        let products = try await database.query("SELECT * FROM products WHERE id IN (\(list))").map(CatalogStore.decodeProduct)
        let byID = Dictionary(uniqueKeysWithValues: products.map { ($0.id, $0) })
        var ranges: [String: [PriceRange]] = [:]
        for row in try await database.query("""
            SELECT * FROM product_price_ranges WHERE product_id IN (\(list)) ORDER BY currency
            """) {
            ranges[try row.decode("product_id"), default: []].append(PriceRange(
                currency: try row.decode("currency"), minAmount: try row.decode("min_amount"),
                maxAmount: try row.decode("max_amount")))
        }
        var stocked = Set<String>()
        for row in try await database.query("""
            SELECT DISTINCT v.product_id FROM variants v
            LEFT JOIN inventory_levels l ON l.variant_id = v.id
            WHERE v.product_id IN (\(list)) AND (l.on_hand - l.reserved > 0 OR v.backorder = 'allow')
            """) {
            stocked.insert(try row.decode("product_id"))
        }
        return ids.compactMap { id in
            guard let product = byID[id] else { return nil }
            return ProductSummary(
                id: id.description, handle: product.handle, title: product.title,
                categoryID: product.categoryID?.description, tags: product.tags, image: product.images.first,
                prices: ranges[id.description] ?? [], inStock: stocked.contains(id.description))
        }
    }

    /// Answers from the cache when it can, else computes, stores and answers; either way with
    /// the ETag and caching headers, or 304 when the client has this version.
    private func cached<Body: Encodable & Sendable>(
        _ request: Request, context: AppRequestContext, compute: () async throws -> Body
    ) async throws -> Response {
        let key = request.uri.description
        let (hit, generation) = cache.lookup(key)
        let entry: CatalogCache.Entry
        if let hit {
            entry = hit
        } else {
            let data = try Self.encoder.encode(try await compute())
            entry = CatalogCache.makeEntry(ByteBuffer(bytes: data))
            cache.store(entry, for: key, computedAt: generation)
        }
        var headers: HTTPFields = [
            .eTag: entry.etag, .cacheControl: "public, max-age=\(maxAge)", .vary: "Accept-Encoding",
        ]
        if let match = request.headers[.ifNoneMatch], Self.matches(match, entry.etag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.contentLength] = String(entry.body.readableBytes)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: entry.body))
    }

    /// Sorted keys: the ETag is a digest of the body, so equal content must give equal bytes
    /// (Foundation's key order is not stable from one encoding to the next).
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func matches(_ header: String, _ etag: String) -> Bool {
        header.split(separator: ",").contains { tag in
            let tag = tag.trimmingCharacters(in: .whitespaces)
            return tag == "*" || tag == etag || tag == "W/" + etag
        }
    }
}
