import EmporiumCore
import Foundation
import Hummingbird

/// How the API shows a variant: admins see stock settings, the storefront sees availability.
struct VariantResponse: Codable, Sendable {
    /// A band rather than the exact count: shops rarely want to publish their stock.
    struct Availability: Codable, Sendable, Equatable {
        let status: String
        let quantity: String?
    }

    let id: String
    let sku: String
    let title: String
    let optionValues: [String]
    let weightGrams: Int64
    let prices: [PriceInput]
    var barcode: String?
    var lowStockThreshold: Int64?
    var backorder: Variant.Backorder?
    var availability: Availability?
    var dimensionsMM: DimensionsMM?

    enum CodingKeys: String, CodingKey {
        case id, sku, title, prices, barcode, backorder, availability
        case dimensionsMM = "dimensions_mm"
        case optionValues = "option_values"
        case weightGrams = "weight_grams"
        case lowStockThreshold = "low_stock_threshold"
    }

    init(_ variant: Variant) {
        id = variant.id.description
        sku = variant.sku
        title = variant.title
        optionValues = variant.optionValues
        weightGrams = variant.weightGrams
        dimensionsMM = variant.dimensions
        prices = variant.prices.sorted { $0.key < $1.key }.map { PriceInput(currency: $0.key, amount: $0.value) }
    }

    static func admin(_ variant: Variant) -> VariantResponse {
        var response = VariantResponse(variant)
        response.barcode = variant.barcode
        response.lowStockThreshold = variant.lowStockThreshold
        response.backorder = variant.backorder
        return response
    }

    static func storefront(_ variant: Variant, available: Int64) -> VariantResponse {
        var response = VariantResponse(variant)
        response.availability = availability(available: available, threshold: variant.lowStockThreshold, backorder: variant.backorder)
        return response
    }

    static func availability(available: Int64, threshold: Int64, backorder: Variant.Backorder) -> Availability {
        if available <= 0 {
            return Availability(status: backorder == .allow ? "backorder" : "out_of_stock", quantity: nil)
        }
        let band = available < 5 ? "1-4" : available < 20 ? "5-19" : "20+"
        return Availability(status: available <= threshold ? "low_stock" : "in_stock", quantity: band)
    }
}

struct ProductResponse: Codable, Sendable {
    let id: String
    let handle: String
    let title: String
    let description: String
    let status: Product.Status
    let categoryID: String?
    let tags: [String]
    let images: [Product.Image]
    let attributes: [String: String]
    let options: [String]
    let variants: [VariantResponse]
    let version: Int64
    let createdAt: String
    let updatedAt: String

    enum CodingKeys: String, CodingKey {
        case id, handle, title, description, status, tags, images, attributes, options, variants, version
        case categoryID = "category_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    init(_ product: Product, variants: [VariantResponse]) {
        id = product.id.description
        handle = product.handle
        title = product.title
        description = product.description
        status = product.status
        categoryID = product.categoryID?.description
        tags = product.tags
        images = product.images
        attributes = product.attributes
        options = product.options
        self.variants = variants
        version = product.version
        createdAt = Timestamp.string(from: product.createdAt)
        updatedAt = Timestamp.string(from: product.updatedAt)
    }

    static func admin(_ product: Product) -> ProductResponse {
        ProductResponse(product, variants: product.variants.map(VariantResponse.admin))
    }

    // The `null` of an absent category is written out, unlike the absent variant fields.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(handle, forKey: .handle)
        try container.encode(title, forKey: .title)
        try container.encode(description, forKey: .description)
        try container.encode(status, forKey: .status)
        try container.encode(categoryID, forKey: .categoryID)
        try container.encode(tags, forKey: .tags)
        try container.encode(images, forKey: .images)
        try container.encode(attributes, forKey: .attributes)
        try container.encode(options, forKey: .options)
        try container.encode(variants, forKey: .variants)
        try container.encode(version, forKey: .version)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
    }
}

struct CategoryResponse: Codable, Sendable {
    let id: String
    let parentID: String?
    let slug: String
    let name: String
    let position: Int64
    var children: [CategoryResponse]?

    enum CodingKeys: String, CodingKey {
        case id, slug, name, position, children
        case parentID = "parent_id"
    }

    init(_ category: Category, children: [CategoryResponse]? = nil) {
        id = category.id.description
        parentID = category.parentID?.description
        slug = category.slug
        name = category.name
        position = category.position
        self.children = children
    }

    /// The tree below `parent`, each node with its children.
    static func tree(_ tree: CategoryTree, under parent: ID<Category>? = nil) -> [CategoryResponse] {
        tree.children(of: parent).map { CategoryResponse($0, children: Self.tree(tree, under: $0.id)) }
    }
}

/// A JSON answer with an ETag (the resource version, for If-Match on the next write).
struct VersionedResponse<Body: Encodable & Sendable>: ResponseGenerator {
    let status: HTTPResponse.Status
    let body: Body
    let version: Int64

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try context.responseEncoder.encode(body, from: request, context: context)
        response.status = status
        response.headers[.eTag] = ETag.make(version)
        return response
    }
}

enum ETag {
    static func make(_ version: Int64) -> String { "\"v\(version)\"" }

    /// The version an `If-Match` header demands: nil when there is none or it is `*`. A
    /// header naming another kind of tag can match no version.
    static func precondition(_ request: Request) -> Int64? {
        guard let header = request.headers[.ifMatch]?.trimmingCharacters(in: .whitespaces), header != "*" else { return nil }
        let tag = header.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard tag.hasPrefix("\"v"), tag.hasSuffix("\""), let version = Int64(tag.dropFirst(2).dropLast()) else { return -1 }
        return version
    }
}
