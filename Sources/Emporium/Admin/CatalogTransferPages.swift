import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `/admin/products/import` and `/admin/products/export`: the product CSV of `emporium import`
/// and `emporium export`, through the same `CatalogImporter` and `CatalogExporter`.
///
/// An import applies the good rows and reports each broken one with its row number and
/// reason, as the command does: a product whose rows are all valid is imported, a row that is
/// not is left out and listed. A file that is unusable as a whole (not CSV, no `handle` or
/// `sku` column, ragged rows) changes nothing. The file is pasted into the form, so that the
/// form stays a plain one the CSRF check reads; its size is bounded by the body limit.
enum CatalogTransferPages: AdminSection {
    static let templates: [String: [UInt8]] = [
        "catalog_import": PackageResources.admin_catalog_import_mustache
    ]

    /// At most this many rejected rows are listed; the count says how many there were.
    static let listedRejections = 200

    static func register(on routes: AdminRoutes, services: BackOfficeServices) {
        let write = CatalogProductPages.write

        routes.page("/admin/products/import", access: write) { _, context in
            context.render("catalog_import", title: "Import products", ["columns": ProductCSV.columns.joined(separator: ",")])
        }

        routes.action("/admin/products/import", access: write) { _, context, form in
            // A chosen file wins over pasted text; the text box is shown again with what was imported.
            let file = form.values["csv_file"] ?? ""
            let text = file.isEmpty ? form.values["csv"] ?? "" : file
            var values: [String: Any] = ["columns": ProductCSV.columns.joined(separator: ","), "csv": text]
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                values["file_error"] = "Choose a CSV file or paste its text first."
                return context.render("catalog_import", title: "Import products", values, status: .unprocessableContent)
            }
            let summary: ProductCSV.ImportSummary
            do {
                summary = try await CatalogImporter.run(
                    Data(text.utf8), database: services.database, clock: services.clock, author: context.author)
            } catch let error as ProductCSV.FileError {
                values["file_error"] = "Nothing was imported: \(error.description)."
                return context.render("catalog_import", title: "Import products", values, status: .unprocessableContent)
            }
            // The import wrote the change log; show its products on this node at once.
            await services.catalogCache.catchUp(on: services.database)
            values["csv"] = nil
            values["report"] = [
                "created": String(summary.created), "updated": String(summary.updated), "unchanged": String(summary.unchanged),
                "rejected_count": String(summary.rejected.count), "has_rejected": !summary.rejected.isEmpty,
                "rejected": summary.rejected.prefix(listedRejections).map { ["row": String($0.row), "reason": $0.reason] },
                "more": summary.rejected.count > listedRejections,
            ] as [String: Any]
            return context.render(
                "catalog_import", title: "Import products", values, status: summary.rejected.isEmpty ? .ok : .unprocessableContent)
        }

        routes.page("/admin/products/export", access: CatalogProductPages.read) { _, _ in
            var text = ""
            _ = try await CatalogExporter.run(database: services.database) { text += $0 }
            var headers = HTTPFields()
            headers[.contentType] = "text/csv; charset=utf-8"
            headers[.contentDisposition] = "attachment; filename=\"products.csv\""
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: AdminPages.secured(headers), body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }
}
