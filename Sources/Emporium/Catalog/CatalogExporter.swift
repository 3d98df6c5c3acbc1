public import EmporiumStorage
import EmporiumCore
import Foundation

/// Writes the whole catalog as a product CSV (`ProductCSV`), in handle order: what
/// `emporium import` reads back without changing anything.
public enum CatalogExporter {
    static let pageSize = 200

    /// Calls `write` with the header and then each line, a page of products at a time;
    /// returns the number of products.
    public static func run(
        database: any Database, locationCode: String = "main", write: (String) throws -> Void
    ) async throws -> Int {
        try write(CSV.format(ProductCSV.columns) + "\n")
        let tree = CategoryTree(try await CatalogStore().categories(on: database))
        let location: ID<StockLocation>? = try await database.queryFirst(
            "SELECT id FROM stock_locations WHERE code = \(locationCode)")?.decode("id")
        var after = ""
        var count = 0
        while true {
            var products = try await database.query("""
                SELECT * FROM products WHERE handle > \(after) ORDER BY handle LIMIT \(pageSize)
                """).map(CatalogStore.decodeProduct)
            guard let last = products.last else { break }
            let variants = try await CatalogStore().variants(of: products.map(\.id), on: database)
            for index in products.indices { products[index].variants = variants[products[index].id] ?? [] }
            let quantities = try await onHand(products.flatMap(\.variants).map(\.id), at: location, on: database)
            var lines = ""
            for product in products {
                let category = product.categoryID.map { tree.path(of: $0).map(\.name).joined(separator: " > ") } ?? ""
                if product.variants.isEmpty {
                    lines += CSV.format([product.handle, product.title, product.description, product.status.rawValue, category]
                        + Array(repeating: "", count: 10)) + "\n"
                }
                for variant in product.variants {
                    let prices = variant.prices.isEmpty ? [("", nil)] : variant.prices.sorted { $0.key < $1.key }.map { ($0.key, Optional($0.value)) }
                    for (currency, amount) in prices {
                        var fields = [product.handle, product.title, product.description, product.status.rawValue, category]
                        for number in 0..<3 {
                            fields.append(number < product.options.count ? product.options[number] : "")
                            fields.append(number < variant.optionValues.count ? variant.optionValues[number] : "")
                        }
                        let price = amount.flatMap { amount in Currency(code: currency).map { Money(minorUnits: amount, currency: $0).decimalString } }
                        fields += [variant.sku, price ?? "", currency, quantities[variant.id].map(String.init) ?? ""]
                        lines += CSV.format(fields) + "\n"
                    }
                }
            }
            try write(lines)
            count += products.count
            after = last.handle
        }
        return count
    }

    private static func onHand(_ variants: [ID<Variant>], at location: ID<StockLocation>?, on db: any SQLExecutor) async throws -> [ID<Variant>: Int64] {
        guard let location, !variants.isEmpty else { return [:] }
        let list = SQL.joined(variants.map { id -> SQL in "\(id)" }, separator: ", ")
        var result: [ID<Variant>: Int64] = [:]
        for row in try await db.query("""
            SELECT variant_id, on_hand FROM inventory_levels WHERE location_id = \(location) AND variant_id IN (\(list))
            """) {
            result[try row.decode("variant_id")] = try row.decode("on_hand")
        }
        return result
    }
}
