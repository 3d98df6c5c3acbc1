import EmporiumCore
import Foundation

/// What the admin API accepts for products, variants, prices and categories, and the rules
/// every write path (HTTP and `emporium import`) checks them against.
struct PriceInput: Codable, Sendable {
    let currency: String
    let amount: Int64
}

struct VariantInput: Codable, Sendable {
    var sku: String?
    var title: String?
    var optionValues: [String]?
    var weightGrams: Int64?
    var barcode: String?
    var prices: [PriceInput]?
    var lowStockThreshold: Int64?
    var backorder: Variant.Backorder?
    var dimensionsMM: DimensionsMM?

    enum CodingKeys: String, CodingKey {
        case sku, title, barcode, prices, backorder
        case dimensionsMM = "dimensions_mm"
        case optionValues = "option_values"
        case weightGrams = "weight_grams"
        case lowStockThreshold = "low_stock_threshold"
    }
}

struct ProductInput: Codable, Sendable {
    var handle: String?
    var title: String?
    var description: String?
    var status: Product.Status?
    var categoryID: String?
    var tags: [String]?
    var images: [Product.Image]?
    var attributes: [String: String]?
    var options: [String]?
    /// Only when creating a product.
    var variants: [VariantInput]?

    enum CodingKeys: String, CodingKey {
        case handle, title, description, status, tags, images, attributes, options, variants
        case categoryID = "category_id"
    }
}

struct CategoryInput: Codable, Sendable {
    var slug: String?
    var name: String?
    var parentID: String?
    var position: Int64?

    enum CodingKeys: String, CodingKey {
        case slug, name, position
        case parentID = "parent_id"
    }
}

/// The catalog's field rules, in one place. Each returns the problems found, pointing into
/// the body at `prefix`.
enum CatalogRules {
    static func handleProblem(_ handle: String) -> String? {
        let allowed = handle.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
        return (1...100).contains(handle.count) && allowed && !handle.hasPrefix("-")
            ? nil : "must be 1 to 100 lower-case letters, digits and dashes"
    }

    static func skuProblem(_ sku: String) -> String? {
        let allowed = sku.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_./".unicodeScalars.contains($0)) }
        return (1...64).contains(sku.count) && allowed ? nil : "must be 1 to 64 letters, digits, - _ . or /"
    }

    static func textProblem(_ text: String, maximum: Int, required: Bool = true) -> String? {
        if required, text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return "must not be empty" }
        if text.count > maximum { return "must be at most \(maximum) characters" }
        if text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" && $0 != "\r" }) {
            return "must not contain control characters"
        }
        return nil
    }

    static func check(product input: ProductInput, at prefix: String = "", into errors: inout [Problem.FieldError]) {
        func add(_ member: String, _ problem: String?) {
            if let problem { errors.append(.init(pointer: prefix + "/" + member, detail: problem)) }
        }
        if let handle = input.handle { add("handle", handleProblem(handle)) }
        if let title = input.title { add("title", textProblem(title, maximum: 200)) }
        if let description = input.description { add("description", textProblem(description, maximum: 20_000, required: false)) }
        if let tags = input.tags {
            if tags.count > 50 { add("tags", "must hold at most 50 tags") }
            for (index, tag) in tags.enumerated() { add("tags/\(index)", textProblem(tag, maximum: 50)) }
        }
        if let images = input.images {
            if images.count > 20 { add("images", "must hold at most 20 images") }
            for (index, image) in images.enumerated() {
                let url = URL(string: image.url)
                if image.url.count > 2000 || !["http", "https"].contains(url?.scheme?.lowercased() ?? "") || url?.host == nil {
                    add("images/\(index)/url", "must be an http or https URL of at most 2000 characters")
                }
                add("images/\(index)/alt", textProblem(image.alt, maximum: 300, required: false))
            }
        }
        if let attributes = input.attributes {
            if attributes.count > 50 { add("attributes", "must hold at most 50 attributes") }
            for (key, value) in attributes.sorted(by: { $0.key < $1.key }) {
                add("attributes/\(key)", textProblem(key, maximum: 50) ?? textProblem(value, maximum: 500, required: false))
            }
        }
        if let options = input.options {
            if options.count > 3 { add("options", "must name at most 3 options") }
            if Set(options.map { $0.lowercased() }).count != options.count { add("options", "must not repeat a name") }
            for (index, option) in options.enumerated() { add("options/\(index)", textProblem(option, maximum: 50)) }
        }
        if let categoryID = input.categoryID, ID<Category>(categoryID) == nil { add("category_id", "must be a category id") }
    }

    static func check(variant input: VariantInput, optionCount: Int, at prefix: String, into errors: inout [Problem.FieldError]) {
        func add(_ member: String, _ problem: String?) {
            if let problem { errors.append(.init(pointer: prefix + "/" + member, detail: problem)) }
        }
        if let sku = input.sku { add("sku", skuProblem(sku)) }
        if let title = input.title { add("title", textProblem(title, maximum: 200, required: false)) }
        if let values = input.optionValues {
            if values.count != optionCount { add("option_values", "must hold one value per product option (\(optionCount))") }
            for (index, value) in values.enumerated() { add("option_values/\(index)", textProblem(value, maximum: 100)) }
        }
        if let weight = input.weightGrams, !(0...10_000_000).contains(weight) { add("weight_grams", "must be 0 to 10000000") }
        if let dimensions = input.dimensionsMM { errors += dimensions.problems(at: prefix + "/dimensions_mm") }
        if let barcode = input.barcode { add("barcode", textProblem(barcode, maximum: 64)) }
        if let threshold = input.lowStockThreshold, !(0...1_000_000).contains(threshold) {
            add("low_stock_threshold", "must be 0 to 1000000")
        }
        if let prices = input.prices {
            var seen = Set<String>()
            for (index, price) in prices.enumerated() {
                if Currency(code: price.currency) == nil {
                    add("prices/\(index)/currency", "must be an ISO 4217 code in upper case, e.g. EUR")
                } else if !seen.insert(price.currency).inserted {
                    add("prices/\(index)/currency", "must not repeat a currency")
                }
                if !(0...1_000_000_000_000).contains(price.amount) {
                    add("prices/\(index)/amount", "must be 0 to 1000000000000 minor units")
                }
            }
        }
    }

    static func check(category input: CategoryInput, into errors: inout [Problem.FieldError]) {
        if let slug = input.slug, let problem = handleProblem(slug) { errors.append(.init(pointer: "/slug", detail: problem)) }
        if let name = input.name, let problem = textProblem(name, maximum: 100) { errors.append(.init(pointer: "/name", detail: problem)) }
        if let parent = input.parentID, ID<Category>(parent) == nil {
            errors.append(.init(pointer: "/parent_id", detail: "must be a category id"))
        }
        if let position = input.position, !(0...1_000_000).contains(position) {
            errors.append(.init(pointer: "/position", detail: "must be 0 to 1000000"))
        }
    }
}
