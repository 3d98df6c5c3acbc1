import EmporiumCore
import Foundation

/// Something the shop sells, with the variants that are actually bought.
struct Product: Sendable, Equatable {
    enum Status: String, Sendable, Codable, CaseIterable {
        case draft, active, archived
    }

    struct Image: Sendable, Codable, Equatable {
        var url: String
        var alt: String
    }

    let id: ID<Product>
    var handle: String
    var title: String
    var description: String
    var status: Status
    var categoryID: ID<Category>?
    var tags: [String]
    var images: [Image]
    var attributes: [String: String]
    /// Option names, e.g. `["Size", "Colour"]`; every variant has one value per name.
    var options: [String]
    /// Grows with every change to the product, its variants or their prices: the ETag.
    var version: Int64
    let createdAt: Date
    var updatedAt: Date
    var variants: [Variant]
}

/// One buyable form of a product: a SKU, its option values and its prices.
struct Variant: Sendable, Equatable {
    enum Backorder: String, Sendable, Codable, CaseIterable {
        case deny, allow
    }

    let id: ID<Variant>
    let productID: ID<Product>
    var sku: String
    var title: String
    var optionValues: [String]
    var weightGrams: Int64
    var barcode: String?
    var position: Int64
    var lowStockThreshold: Int64
    var backorder: Backorder
    /// Amount in minor units per currency code.
    var prices: [String: Int64]
    let createdAt: Date
    var updatedAt: Date
    /// The packed size, for carrier rates and labels; nil when not given.
    var dimensions: DimensionsMM? = nil
}

/// A variant's packed size in millimetres (`dimensions_mm`).
struct DimensionsMM: Codable, Sendable, Equatable {
    var length: Int64?
    var width: Int64?
    var height: Int64?

    /// The rule of every write path: all three, each 1 to 10000 mm.
    func problems(at pointer: String) -> [Problem.FieldError] {
        [("length", length), ("width", width), ("height", height)].compactMap { name, value in
            guard let value else { return .init(pointer: "\(pointer)/\(name)", detail: "is required") }
            return (1...10_000).contains(value) ? nil : .init(pointer: "\(pointer)/\(name)", detail: "must be 1 to 10000 millimetres")
        }
    }
}

/// A node of the category tree.
struct Category: Sendable, Equatable {
    let id: ID<Category>
    var parentID: ID<Category>?
    var slug: String
    var name: String
    var position: Int64
    var version: Int64
    let createdAt: Date
    var updatedAt: Date
}

/// The whole category tree, small enough to hold in memory; it answers "this category and
/// everything below it" for the storefront filter.
struct CategoryTree: Sendable {
    let categories: [Category]
    private let children: [ID<Category>?: [Category]]

    init(_ categories: [Category]) {
        self.categories = categories
        children = Dictionary(grouping: categories, by: \.parentID)
            .mapValues { $0.sorted { ($0.position, $0.name) < ($1.position, $1.name) } }
    }

    func category(slugOrID key: String) -> Category? {
        categories.first { $0.slug == key || $0.id.description == key }
    }

    func children(of id: ID<Category>?) -> [Category] { children[id] ?? [] }

    /// `id` and all its descendants.
    func subtree(of id: ID<Category>) -> [ID<Category>] {
        var result = [id]
        var index = 0
        while index < result.count {
            result += children(of: result[index]).map(\.id)
            index += 1
        }
        return result
    }

    /// Whether making `parent` the parent of `id` would put `id` below itself.
    func wouldCycle(_ id: ID<Category>, under parent: ID<Category>) -> Bool {
        subtree(of: id).contains(parent)
    }

    /// The names from the root down to `id`, e.g. `["Clothing", "Shirts"]`.
    func path(of id: ID<Category>) -> [Category] {
        var path: [Category] = []
        var current = categories.first { $0.id == id }
        while let category = current, path.count <= categories.count {
            path.insert(category, at: 0)
            current = category.parentID.flatMap { parent in categories.first { $0.id == parent } }
        }
        return path
    }
}
