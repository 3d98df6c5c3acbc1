import EmporiumCore
import Foundation

/// The back office's product, variant and category forms, read into the inputs the admin API
/// takes (`ProductInput`, `VariantInput`, `CategoryInput`), so that `CatalogService` checks
/// them by the same rules. What is checked here is only what a form adds: text that should be
/// a number, a price in major units. Field errors use the API's JSON pointers, and the pages
/// show each next to the field of that name.
enum CatalogForms {
    /// A posted form: the last value of each name (a browser sends each field once).
    typealias Fields = [String: String]

    /// What went wrong with a form, by field name (`title`, `prices/0/amount`), and for the
    /// form as a whole.
    struct Errors: Sendable {
        var fields: [String: String] = [:]
        var general: [String] = []

        var isEmpty: Bool { fields.isEmpty && general.isEmpty }

        mutating func add(_ field: String, _ detail: String) {
            if fields[field] == nil { fields[field] = detail }
        }

        /// The problem's field errors by the name their pointer ends in; the rest, and the
        /// problem's own detail when it names no field, for the whole form.
        init(_ problem: Problem) {
            for error in problem.errors {
                if let pointer = error.pointer, !pointer.isEmpty {
                    add(String(pointer.dropFirst()), error.detail)
                } else {
                    general.append(error.detail)
                }
            }
            if problem.errors.isEmpty { general.append(problem.detail ?? problem.title) }
        }

        init() {}
    }

    static func text(_ fields: Fields, _ name: String) -> String {
        (fields[name] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A comma-separated list, trimmed, without empty entries.
    static func list(_ fields: Fields, _ name: String) -> [String] {
        text(fields, name).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The version a form was rendered from (a hidden field): a stale edit is refused by the
    /// service like an `If-Match` that no longer matches.
    static func version(_ fields: Fields) -> Int64? {
        Int64(text(fields, "version"))
    }

    // MARK: Products

    /// The product form: every field is sent, so every field is set; an empty category
    /// removes the product from its category (`category_id: null` in the API).
    static func product(_ fields: Fields) -> (input: ProductInput, nullMembers: Set<String>) {
        var input = ProductInput()
        input.handle = text(fields, "handle")
        input.title = text(fields, "title")
        input.description = fields["description"] ?? ""
        input.status = Product.Status(rawValue: text(fields, "status")) ?? .draft
        let category = text(fields, "category_id")
        input.categoryID = category.isEmpty ? nil : category
        input.tags = list(fields, "tags")
        input.options = list(fields, "options")
        return (input, category.isEmpty ? ["category_id"] : [])
    }

    /// The values a product form shows: the product's, or what was posted when it is shown again.
    static func productValues(_ product: Product) -> Fields {
        [
            "handle": product.handle, "title": product.title, "description": product.description,
            "status": product.status.rawValue, "category_id": product.categoryID?.description ?? "",
            "tags": product.tags.joined(separator: ", "), "options": product.options.joined(separator: ", "),
            "version": String(product.version),
        ]
    }

    // MARK: Variants

    /// How many price rows a variant form has: its currencies and one empty row to add one.
    static func priceRows(_ variant: Variant?) -> Int { (variant?.prices.count ?? 0) + 1 }

    /// The variant form. Prices come as rows `price_currency_N` / `price_amount_N` in major
    /// units ("12.50"); a row with no amount is left out, which removes that price.
    static func variant(_ fields: Fields, optionCount: Int) -> (input: VariantInput, nullMembers: Set<String>, errors: Errors) {
        var errors = Errors()
        var input = VariantInput()
        input.sku = text(fields, "sku")
        // An empty title is the option values' (as when a variant is created without one).
        let title = text(fields, "title")
        input.title = title.isEmpty ? (0..<optionCount).map { text(fields, "option_value_\($0)") }.joined(separator: " / ") : title
        input.optionValues = (0..<optionCount).map { text(fields, "option_value_\($0)") }
        func number(_ name: String) -> Int64? {
            let value = text(fields, name)
            guard !value.isEmpty else { return nil }
            guard let number = Int64(value) else {
                errors.add(name, "must be a whole number")
                return nil
            }
            return number
        }
        input.weightGrams = number("weight_grams") ?? 0
        input.lowStockThreshold = number("low_stock_threshold") ?? 0
        input.backorder = Variant.Backorder(rawValue: text(fields, "backorder")) ?? .deny
        let barcode = text(fields, "barcode")
        input.barcode = barcode.isEmpty ? nil : barcode
        var prices: [PriceInput] = []
        var index = 0
        while let code = fields["price_currency_\(index)"] {
            defer { index += 1 }
            let currencyCode = code.trimmingCharacters(in: .whitespaces).uppercased()
            let amount = text(fields, "price_amount_\(index)")
            if amount.isEmpty { continue }
            guard let currency = Currency(code: currencyCode) else {
                errors.add("prices/\(prices.count)/currency", "must be an ISO 4217 code in upper case, e.g. EUR")
                continue
            }
            guard let money = try? Money(parsing: amount, currency: currency) else {
                errors.add("prices/\(prices.count)/amount", "must be an amount such as 12.50 with at most \(currency.minorUnitDigits) decimals")
                continue
            }
            prices.append(PriceInput(currency: currency.code, amount: money.minorUnits))
            if index >= 20 { break }
        }
        input.prices = prices
        return (input, barcode.isEmpty ? ["barcode"] : [], errors)
    }

    static func variantValues(_ variant: Variant) -> Fields {
        var values: Fields = [
            "sku": variant.sku, "title": variant.title, "weight_grams": String(variant.weightGrams),
            "low_stock_threshold": String(variant.lowStockThreshold), "backorder": variant.backorder.rawValue,
            "barcode": variant.barcode ?? "",
        ]
        for (index, value) in variant.optionValues.enumerated() { values["option_value_\(index)"] = value }
        for (index, price) in variant.prices.sorted(by: { $0.key < $1.key }).enumerated() {
            values["price_currency_\(index)"] = price.key
            values["price_amount_\(index)"] = Currency(code: price.key).map { Money(minorUnits: price.value, currency: $0).decimalString }
                ?? String(price.value)
        }
        return values
    }

    // MARK: Categories

    static func category(_ fields: Fields) -> (input: CategoryInput, nullMembers: Set<String>, errors: Errors) {
        var errors = Errors()
        var input = CategoryInput()
        input.slug = text(fields, "slug")
        input.name = text(fields, "name")
        let parent = text(fields, "parent_id")
        input.parentID = parent.isEmpty ? nil : parent
        let position = text(fields, "position")
        if position.isEmpty {
            input.position = 0
        } else if let value = Int64(position) {
            input.position = value
        } else {
            errors.add("position", "must be a whole number")
        }
        return (input, parent.isEmpty ? ["parent_id"] : [], errors)
    }

    static func categoryValues(_ category: Category) -> Fields {
        [
            "slug": category.slug, "name": category.name, "parent_id": category.parentID?.description ?? "",
            "position": String(category.position), "version": String(category.version),
        ]
    }
}
