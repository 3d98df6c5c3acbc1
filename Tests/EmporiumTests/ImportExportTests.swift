import Emporium
import EmporiumStorage
import Foundation
import Testing

@Suite struct ImportExportTests {
    static let header = "handle,title,description,status,category,option1_name,option1_value,sku,price,currency,quantity\n"

    @Test func importsGoodRowsRejectsBadOnesAndReportsBoth() async throws {
        try await withApp { app in
            let csv = Self.header + """
                linen-shirt,Linen Shirt,"Cool, light.",active,Clothing > Shirts,Size,M,LS-M,29.90,EUR,12
                linen-shirt,,,,,Size,M,LS-M,32.00,USD,12
                linen-shirt,,,,,Size,L,LS-L,31.90,EUR,3
                mug,Mug,,active,Home,,,MUG-1,9.5,EUR,
                Bad Handle,Nope,,,,,,X-1,1.00,EUR,
                cup,Cup,,,,,,CUP-1,1.234,EUR,
                bowl,Bowl,,,,,,BOWL-1,2.00,XXX,
                plate,Plate,,,,,,PLATE-1,2.00,EUR,-4
                no-title,,,,,,,NT-1,1.00,EUR,

                """
            let summary = try await CatalogImporter.run(Data(csv.utf8), database: app.database)
            #expect(summary.created == 2)
            #expect(summary.rejected.map(\.row) == [6, 7, 8, 9, 10])
            #expect(summary.rejected.first { $0.row == 10 }?.reason.contains("title") == true)

            let shirt = try await app.get("/v1/products/linen-shirt", token: nil).jsonObject()
            let variants = try #require(shirt["variants"] as? [[String: Any]])
            #expect(variants.map { $0["sku"] as? String } == ["LS-M", "LS-L"])
            #expect((variants[0]["prices"] as? [[String: Any]])?.compactMap { $0["amount"] as? Int } == [2990, 3200])
            #expect(try await app.handles("/v1/products?category=clothing") == ["linen-shirt"])
            let level = try #require(try await app.database.queryFirst(
                "SELECT l.on_hand FROM inventory_levels l JOIN variants v ON v.id = l.variant_id WHERE v.sku = 'LS-M'"))
            #expect(try level.decode("on_hand", as: Int.self) == 12)
        }
    }

    @Test func exportThenImportChangesNothing() async throws {
        try await withApp { app in
            _ = try await CatalogSeeder.seed(products: 120, database: app.database)
            let staff = try await app.signIn("staff@example.com", as: .staff)
            try await app.createProduct(#"{"handle":"quoted","title":"Say \"hi\", twice","description":"Line one\nline two","status":"draft","options":[]}"#, token: staff)
            var exported = ""
            let count = try await CatalogExporter.run(database: app.database) { exported += $0 }
            #expect(count == 121)
            let versions = try await app.database.query("SELECT handle, version FROM products ORDER BY handle")
                .map { "\(try $0.decode("handle", as: String.self))=\(try $0.decode("version", as: Int.self))" }
            let movements = try await app.database.query("SELECT id FROM inventory_movements").count

            let summary = try await CatalogImporter.run(Data(exported.utf8), database: app.database)
            #expect(summary.unchanged == 121 && summary.created == 0 && summary.updated == 0 && summary.rejected.isEmpty)
            let after = try await app.database.query("SELECT handle, version FROM products ORDER BY handle")
                .map { "\(try $0.decode("handle", as: String.self))=\(try $0.decode("version", as: Int.self))" }
            #expect(after == versions)
            #expect(try await app.database.query("SELECT id FROM inventory_movements").count == movements)
            var again = ""
            _ = try await CatalogExporter.run(database: app.database) { again += $0 }
            #expect(again == exported)
        }
    }

    @Test func aSecondImportUpdatesAndCountsStockThroughTheLedger() async throws {
        try await withApp { app in
            let first = Self.header + "mug,Mug,,active,,,,MUG-1,9.50,EUR,10\n"
            _ = try await CatalogImporter.run(Data(first.utf8), database: app.database)
            let second = Self.header + "mug,Big Mug,,active,,,,MUG-1,11.00,EUR,7\nmug,,,,,,,MUG-2,12.00,EUR,1\n"
            let summary = try await CatalogImporter.run(Data(second.utf8), database: app.database)
            #expect(summary.updated == 1 && summary.rejected.isEmpty)
            let product = try await app.get("/v1/products/mug", token: nil).jsonObject()
            #expect(product["title"] as? String == "Big Mug")
            #expect((product["variants"] as? [Any])?.count == 2)
            let ledger = try await app.database.query("""
                SELECT m.on_hand_delta FROM inventory_movements m JOIN variants v ON v.id = m.variant_id
                WHERE v.sku = 'MUG-1' ORDER BY m.id
                """).map { try $0.decode("on_hand_delta", as: Int.self) }
            #expect(ledger == [10, -3])
        }
    }

    @Test(arguments: [
        (Data([0x68, 0x61, 0xFF, 0xFE, 0x0A]), "UTF-8"),
        (Data(), "empty"),
        (Data("title,price\nMug,1.00\n".utf8), "handle"),
        (Data("handle,sku\nmug,M-1,extra\n".utf8), "line 2 has 3 fields"),
        (Data("handle,sku\n\"mug,M-1\n".utf8), "never closed"),
    ])
    func malformedFilesAreRefusedWithAReason(data: Data, mentions: String) async throws {
        try await withApp { app in
            do {
                _ = try await CatalogImporter.run(data, database: app.database)
                Issue.record("the file was accepted")
            } catch let error as ProductCSV.FileError {
                #expect(error.description.contains(mentions), "\(error.description)")
            }
            #expect(try await app.database.query("SELECT id FROM products").isEmpty)
        }
    }
}
