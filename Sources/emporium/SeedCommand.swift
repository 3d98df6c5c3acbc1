import ArgumentParser
import Emporium
import Foundation

struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed",
        abstract: "Fill the catalog with a deterministic demo: categories, products with sizes, EUR and USD prices, stock.",
        discussion: "Migrates first. Products whose handle exists already are left alone, so seeding twice adds nothing."
    )

    @OptionGroup var options: ServerOptions

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
            print(String(
                format: "Seeded %d products (%d variants) in %d categories in %.1f s.", summary.products, summary.variants,
                summary.categories, Date().timeIntervalSince(started)))
        } catch {
            throw fail(describe(error) + "; the products written before the failure are kept, run seed again to add the rest")
        }
    }
}
