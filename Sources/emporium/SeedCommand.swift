import ArgumentParser
import Emporium
import Foundation

struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed",
        abstract: "Fill a demo shop: categories, products with sizes, EUR and USD prices and stock, a stock location, shipping and tax.",
        discussion: """
            Migrates first. Creates what is missing and leaves what exists as it is: products by handle, \
            categories by slug, the stock location `main`, a flat "Standard shipping" method in each currency \
            that has no active method, and German VAT (DE, 19 %) unless DE has a rate. Prints what it created, \
            updated and left unchanged, so a second run says that it changed nothing.
            """
    )

    @OptionGroup var options: DatabaseOptions

    @Option(help: "How many products to create.")
    var products: Int = 100

    func validate() throws {
        guard (1...1_000_000).contains(products) else { throw ValidationError("--products must be 1 to 1000000") }
    }

    func run() async throws {
        let configuration = try options.configuration()
        let logger = makeLogger(configuration, sink: StandardErrorSink())
        let progress = ProgressReporter(total: products, label: "seeding products")
        let count = products
        do {
            let started = Date()
            let summary = try await withDatabase(configuration, logger: logger) { database in
                _ = try await Emporium.migrate(database, logger: logger)
                return try await CatalogSeeder.seed(products: count, database: database, progress: { progress.update($0) })
            }
            print(Self.report(summary, seconds: Date().timeIntervalSince(started)))
        } catch {
            throw fail(describe(error) + "; the products written before the failure are kept, run seed again to add the rest")
        }
    }

    /// What the seed did, one line per kind of record.
    static func report(_ summary: CatalogSeeder.Summary, seconds: Double) -> String {
        let headline = summary.changed
            ? String(format: "Seeded the demo shop in %.1f s:", seconds)
            : String(format: "Nothing to seed: the demo shop is complete, nothing changed (%.1f s):", seconds)
        let currencies = CatalogSeeder.currencies.joined(separator: " and ")
        let flat = String(format: "%.2f", Double(CatalogSeeder.shippingAmount) / 100)
        let rows: [(String, CatalogSeeder.Counts, String)] = [
            ("products", summary.products,
             summary.variants > 0 ? "\(summary.variants) variants priced in \(currencies), with stock at \(CatalogSeeder.locationCode)" : ""),
            ("categories", summary.categories, ""),
            ("stock locations", summary.stockLocations, CatalogSeeder.locationCode),
            ("shipping methods", summary.shippingMethods, "\(CatalogSeeder.shippingMethodName), \(flat) flat, in \(currencies)"),
            ("tax rates", summary.taxRates, "\(CatalogSeeder.taxCountry) \(CatalogSeeder.taxName) \(CatalogSeeder.taxRatePPM / 10_000) %"),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        return ([headline] + rows.map { name, counts, note in
            let label = (name + ":").padding(toLength: width + 1, withPad: " ", startingAt: 0)
            return "  \(label) \(counts)" + (note.isEmpty || !counts.changed ? "" : " (\(note))")
        }).joined(separator: "\n")
    }
}
