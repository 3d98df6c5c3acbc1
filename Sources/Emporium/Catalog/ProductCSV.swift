import EmporiumCore
import EmporiumStorage
import Foundation

/// The product CSV that `emporium import` reads and `emporium export` writes: one row per
/// variant and currency, product fields on every row (the first non-empty value counts),
/// prices in major units ("12.50"), categories as paths ("Clothing > Shirts"), quantity as
/// the on-hand count at one stock location.
public enum ProductCSV {
    static let columns = [
        "handle", "title", "description", "status", "category", "option1_name", "option1_value", "option2_name",
        "option2_value", "option3_name", "option3_value", "sku", "price", "currency", "quantity",
    ]
    static let requiredColumns: Set<String> = ["handle", "sku"]

    public struct FileError: Error, CustomStringConvertible {
        public let description: String
    }

    /// A row the import did not apply, and why.
    public struct Rejection: Sendable, CustomStringConvertible {
        public let row: Int
        public let reason: String
        public var description: String { "row \(row): \(reason)" }
    }

    public struct ImportSummary: Sendable {
        public var created = 0
        public var updated = 0
        public var unchanged = 0
        public var rejected: [Rejection] = []
    }

    // MARK: Reading

    struct VariantDraft {
        var sku: String
        var optionValues: [String]
        var prices: [String: Int64] = [:]
        var quantity: Int64?
        var rows: [Int]
    }

    struct ProductDraft {
        var handle: String
        var title: String?
        var description: String?
        var status: Product.Status?
        var categoryPath: [String]?
        var options: [String] = []
        var variants: [VariantDraft] = []
        var rows: [Int] = []
    }

    /// Reads the file into products, or throws when the file as a whole is unusable (not
    /// UTF-8, no header, missing columns, broken quoting, ragged rows). Bad individual rows
    /// are returned as rejections; they never stop the good ones.
    static func read(_ data: Data) throws(FileError) -> (products: [ProductDraft], rejected: [Rejection]) {
        var bytes = data
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        guard let text = String(data: bytes, encoding: .utf8) else {
            throw FileError(description: "the file is not UTF-8 text; save it as UTF-8 CSV and try again")
        }
        let records: [(line: Int, fields: [String])]
        do {
            records = try CSV.parse(text)
        } catch {
            throw FileError(description: "the file is not valid CSV at \(error)")
        }
        guard let header = records.first else { throw FileError(description: "the file is empty; it needs a header row") }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let missing = requiredColumns.subtracting(names)
        guard missing.isEmpty else {
            throw FileError(description: "the header lacks the column(s) \(missing.sorted().joined(separator: ", ")); it has \(names.joined(separator: ", "))")
        }
        if let ragged = records.dropFirst().first(where: { $0.fields.count != names.count }) {
            throw FileError(description: "line \(ragged.line) has \(ragged.fields.count) fields but the header has \(names.count); every row needs one field per column")
        }
        let index = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })

        var products: [String: ProductDraft] = [:]
        var order: [String] = []
        var rejected: [Rejection] = []
        for (position, record) in records.dropFirst().enumerated() {
            let row = position + 2  // the header is row 1
            func value(_ column: String) -> String {
                index[column].map { record.fields[$0].trimmingCharacters(in: .whitespaces) } ?? ""
            }
            func reject(_ reason: String) { rejected.append(Rejection(row: row, reason: reason)) }
            let handle = value("handle")
            if let problem = CatalogRules.handleProblem(handle) { reject("handle \(problem)"); continue }
            // A row without a SKU carries product fields only (a product without variants).
            let sku = value("sku")
            if !sku.isEmpty, let problem = CatalogRules.skuProblem(sku) { reject("sku \(problem)"); continue }
            var status: Product.Status?
            if !value("status").isEmpty {
                guard let parsed = Product.Status(rawValue: value("status").lowercased()) else {
                    reject("status must be draft, active or archived"); continue
                }
                status = parsed
            }
            var price: (String, Int64)?
            if !value("price").isEmpty || !value("currency").isEmpty {
                guard let currency = Currency(code: value("currency").uppercased()) else {
                    reject("currency must be an ISO 4217 code such as EUR"); continue
                }
                guard let money = try? Money(parsing: value("price"), currency: currency), money.minorUnits >= 0 else {
                    reject("price must be an amount such as 12.50 with at most \(currency.minorUnitDigits) decimals"); continue
                }
                price = (currency.code, money.minorUnits)
            }
            var quantity: Int64?
            if !value("quantity").isEmpty {
                guard let parsed = Int64(value("quantity")), (0...1_000_000_000).contains(parsed) else {
                    reject("quantity must be a whole number from 0"); continue
                }
                quantity = parsed
            }
            var optionNames: [String] = []
            var optionValues: [String] = []
            for number in 1...3 {
                let name = value("option\(number)_name")
                let optionValue = value("option\(number)_value")
                if name.isEmpty && optionValue.isEmpty { continue }
                optionNames.append(name)
                optionValues.append(optionValue)
            }
            if let bad = (optionNames + optionValues).first(where: { CatalogRules.textProblem($0, maximum: 100) != nil }) {
                reject("option names and values must be 1 to 100 characters (\"\(bad)\")"); continue
            }
            let title = value("title")
            if !title.isEmpty, let problem = CatalogRules.textProblem(title, maximum: 200) { reject("title \(problem)"); continue }
            let description = index["description"].map { record.fields[$0] } ?? ""
            if let problem = CatalogRules.textProblem(description, maximum: 20_000, required: false) {
                reject("description \(problem)"); continue
            }

            var product = products[handle] ?? ProductDraft(handle: handle)
            if product.rows.isEmpty { order.append(handle) }
            if !sku.isEmpty, !product.variants.isEmpty, product.options != optionNames {
                reject("option names differ from the earlier rows of \(handle) (\(product.options.joined(separator: ", ")))"); continue
            }
            if let other = products.first(where: { $0.key != handle && $0.value.variants.contains { $0.sku == sku } }) {
                reject("SKU \(sku) belongs to \(other.key) earlier in the file"); continue
            }
            if !sku.isEmpty { product.options = optionNames }
            product.rows.append(row)
            if product.title == nil, !title.isEmpty { product.title = title }
            if product.description == nil, index["description"] != nil, !description.isEmpty { product.description = description }
            if product.status == nil { product.status = status }
            if product.categoryPath == nil, !value("category").isEmpty {
                product.categoryPath = value("category").split(separator: ">").map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty }
            }
            if sku.isEmpty {
                // Product fields only.
            } else if let existing = product.variants.firstIndex(where: { $0.sku == sku }) {
                if product.variants[existing].optionValues != optionValues {
                    reject("SKU \(sku) appears with other option values on an earlier row"); continue
                }
                if let price { product.variants[existing].prices[price.0] = price.1 }
                if let quantity { product.variants[existing].quantity = quantity }
                product.variants[existing].rows.append(row)
            } else {
                var variant = VariantDraft(sku: sku, optionValues: optionValues, quantity: quantity, rows: [row])
                if let price { variant.prices[price.0] = price.1 }
                product.variants.append(variant)
            }
            products[handle] = product
        }
        return (order.compactMap { products[$0] }, rejected)
    }
}
