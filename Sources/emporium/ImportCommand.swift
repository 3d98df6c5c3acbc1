import ArgumentParser
import Emporium
import Foundation

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Create or update products from a CSV file (upsert by handle and SKU).",
        discussion: """
            Columns: handle, title, description, status, category ("Clothing > Shirts"), option1_name, \
            option1_value … option3_value, sku, price ("12.50"), currency, quantity. One row per variant and \
            currency; handle and sku are required columns. Rows that are wrong are listed and skipped; the \
            others are applied. Quantities set the on-hand count at the --location stock location.
            """
    )

    @OptionGroup var options: DatabaseOptions

    @Argument(help: "The CSV file to read.")
    var file: String

    @Option(help: "Code of the stock location that quantities are counted at (created when missing).")
    var location = "main"

    func run() async throws {
        let configuration = try options.configuration()
        let logger = makeLogger(configuration, sink: StandardErrorSink())
        guard let data = FileManager.default.contents(atPath: file) else {
            throw fail("cannot read \(file); check the path and its permissions")
        }
        let progress = ProgressReporter(label: "importing products")
        let locationCode = location
        let summary: ProductCSV.ImportSummary
        do {
            summary = try await withDatabase(configuration, logger: logger) { database in
                _ = try await Emporium.migrate(database, logger: logger)
                return try await CatalogImporter.run(data, database: database, locationCode: locationCode) { done, total in
                    progress.update(done, of: total)
                }
            }
        } catch let error as ProductCSV.FileError {
            throw fail("\(file): \(error.description)")
        } catch {
            throw fail(describe(error) + "; batches committed before the failure are kept, and importing again is safe")
        }
        print("Created \(summary.created), updated \(summary.updated), unchanged \(summary.unchanged), rejected \(summary.rejected.count) row(s).")
        for rejection in summary.rejected.prefix(200) { print("  \(rejection)") }
        if summary.rejected.count > 200 { print("  … and \(summary.rejected.count - 200) more") }
        if !summary.rejected.isEmpty { throw ExitCode(2) }
    }
}

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write every product as CSV, in the format import reads.",
        discussion: "Exporting and then importing the file changes nothing."
    )

    @OptionGroup var options: DatabaseOptions

    @Argument(help: "The file to write; standard output when omitted.")
    var file: String?

    @Option(help: "Code of the stock location whose on-hand counts go in the quantity column.")
    var location = "main"

    func run() async throws {
        let configuration = try options.configuration()
        let logger = makeLogger(configuration, sink: StandardErrorSink())
        let handle: FileHandle
        if let file {
            guard FileManager.default.createFile(atPath: file, contents: nil) , let opened = FileHandle(forWritingAtPath: file) else {
                throw fail("cannot write \(file); check the folder and its permissions")
            }
            handle = opened
        } else {
            handle = FileHandle.standardOutput
        }
        let locationCode = location
        do {
            let count = try await withDatabase(configuration, logger: logger) { database in
                _ = try await Emporium.migrate(database, logger: logger)
                return try await CatalogExporter.run(database: database, locationCode: locationCode) { text in
                    handle.write(Data(text.utf8))
                }
            }
            if file != nil { try? handle.close() }
            FileHandle.standardError.write(Data("Exported \(count) products.\n".utf8))
        } catch {
            throw fail(describe(error))
        }
    }
}
