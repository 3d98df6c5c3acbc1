import EmporiumCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The public catalog: `GET /v1/products`, `GET /v1/products/{id_or_handle}` and
/// `GET /v1/categories`. Parameters are checked before the cache is asked (unknown ones are a
/// 400), answers are kept until a change they depend on (`CatalogCache`), carry a strong ETag
/// and `Cache-Control: public`, and `If-None-Match` gets 304.
struct StorefrontRoutes {
    let catalog: StorefrontCatalog
    let cache: CatalogCache
    let maxAge: Int

    typealias ProductSummary = StorefrontCatalog.ProductSummary
    typealias PriceRange = StorefrontCatalog.PriceRange

    func register(on routes: RouteRegistrar) {
        routes.get("/v1/products") { request, context in
            // Checked in full, the category included, before the cache: a bad query is never a miss.
            let tree = try await cache.categoryTree { CategoryTree(try await catalog.categories()) }
            let query = try ProductListQuery(request.uri, categories: tree)
            return try await cached(query.cacheKey, request) { try await catalog.list(query) }
        }
        routes.get("/v1/products/:id_or_handle") { request, context in
            try Self.refuseParameters(request)
            let key = context.parameters.get("id_or_handle") ?? ""
            // 404s are not cached: a storm of made-up handles costs reads, never evictions.
            return try await cached(.init(segment: .detail, text: key), request) {
                guard let read = try await catalog.product(idOrHandle: key) else {
                    throw Problem.notFound("There is no product with this id or handle.")
                }
                return read
            }
        }
        routes.get("/v1/categories") { request, _ in
            try Self.refuseParameters(request)
            return try await cached(.init(segment: .tree, text: ""), request) {
                catalog.categoryTree(CategoryTree(try await catalog.categories()))
            }
        }
    }

    /// Product pages and the tree take no parameters.
    static func refuseParameters(_ request: Request) throws {
        guard request.uri.query?.isEmpty == false else { return }
        let errors = ProductListQuery.unknownOrRepeated(request.uri, allowed: [])
        throw Problem.validation(
            errors.isEmpty ? [.init(parameter: "query", detail: "this endpoint takes no parameters")] : errors,
            detail: "The query has invalid parameters.")
    }

    /// Answers from the cache when it can, else computes, stores and answers; either way with
    /// the ETag and caching headers, or 304 when the client has this version.
    private func cached<Body: Encodable & Sendable>(
        _ key: CatalogCache.Key, _ request: Request, compute: () async throws -> StorefrontCatalog.Read<Body>
    ) async throws -> Response {
        let (hit, generation) = cache.lookup(key)
        let entry: CatalogCache.Entry
        if let hit {
            entry = hit
        } else {
            let read = try await compute()
            let body: [UInt8] = if let product = read.body as? ProductResponse {
                product.storefrontJSON()
            } else {
                try JSONText.foundation(read.body)
            }
            entry = CatalogCache.makeEntry(ByteBuffer(bytes: body))
            cache.store(entry, for: key, dependsOn: read.dependencies, computedAt: generation)
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

    static func matches(_ header: String, _ etag: String) -> Bool {
        header.split(separator: ",").contains { tag in
            let tag = tag.trimmingCharacters(in: .whitespaces)
            return tag == "*" || tag == etag || tag == "W/" + etag
        }
    }
}
