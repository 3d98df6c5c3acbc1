import Emporium
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// A product with one SKU and a stock location, made through the admin API.
struct StockFixture {
    let staff: String
    let location: String
    let sku: String

    init(_ app: TestApp, sku: String = "MUG-1") async throws {
        staff = try await app.signIn("staff@example.com", as: .staff)
        try await app.createProduct(TestApp.product(handle: sku.lowercased(), sku: sku), token: staff)
        let created = try await app.send(.post, "/v1/admin/inventory/locations", token: staff, json: #"{"code":"main","name":"Main"}"#)
        location = try #require(try created.jsonObject()["id"] as? String)
        self.sku = sku
    }

    func adjustment(delta: Int? = nil, count: Int? = nil, reason: String = "received") -> String {
        let change = delta.map { #""delta":\#($0)"# } ?? count.map { #""count":\#($0)"# } ?? ""
        return #"{"sku":"\#(sku)","location_id":"\#(location)",\#(change),"reason":"\#(reason)"}"#
    }
}

extension TestApp {
    /// on_hand, reserved, and the ledger's sums, for one SKU at one location.
    func stock(_ fixture: StockFixture) async throws -> (onHand: Int64, reserved: Int64, ledgerOnHand: Int64, ledgerReserved: Int64) {
        let level = try await database.queryFirst("""
            SELECT l.on_hand, l.reserved FROM inventory_levels l JOIN variants v ON v.id = l.variant_id WHERE v.sku = \(fixture.sku)
            """)
        let ledger = try #require(try await database.queryFirst("""
            SELECT CAST(COALESCE(SUM(m.on_hand_delta), 0) AS BIGINT) AS on_hand, CAST(COALESCE(SUM(m.reserved_delta), 0) AS BIGINT) AS reserved
            FROM inventory_movements m JOIN variants v ON v.id = m.variant_id WHERE v.sku = \(fixture.sku)
            """))
        return (
            try level?.decode("on_hand") ?? 0, try level?.decode("reserved") ?? 0,
            try ledger.decode("on_hand"), try ledger.decode("reserved")
        )
    }
}

@Suite struct InventoryTests {
    @Test func adjustmentsAddOrCountAndTheLedgerSumsToTheLevel() async throws {
        try await withApp { app in
            let fixture = try await StockFixture(app)
            let received = try await app.send(.post, "/v1/admin/inventory/adjustments", token: fixture.staff, json: fixture.adjustment(delta: 10))
            #expect(received.status == .created)
            let level = try #require(try received.jsonObject()["level"] as? [String: Any])
            #expect(level["on_hand"] as? Int == 10 && level["available"] as? Int == 10)
            #expect(try await app.send(.post, "/v1/admin/inventory/adjustments", token: fixture.staff, json: fixture.adjustment(delta: -3, reason: "damaged")).status == .created)
            let counted = try await app.send(.post, "/v1/admin/inventory/adjustments", token: fixture.staff, json: fixture.adjustment(count: 4, reason: "count"))
            #expect(try (counted.jsonObject()["movement"] as? [String: Any])?["on_hand_delta"] as? Int == -3)
            let tooMany = try await app.send(.post, "/v1/admin/inventory/adjustments", token: fixture.staff, json: fixture.adjustment(delta: -5, reason: "lost"))
            #expect(tooMany.status == .conflict)
            #expect(try app.problemType(tooMany) == "urn:emporium:problem:insufficient-stock")

            let stock = try await app.stock(fixture)
            #expect(stock.onHand == 4 && stock.ledgerOnHand == 4 && stock.reserved == stock.ledgerReserved)
            let movements = try await app.send(.get, "/v1/admin/inventory/movements?sku=\(fixture.sku)", token: fixture.staff).jsonObject()
            #expect((movements["data"] as? [[String: Any]])?.map { $0["reason"] as? String } == ["received", "damaged", "count"])

            // The schema refuses what the code would never write.
            await #expect(throws: DatabaseError.self) {
                try await app.database.execute("UPDATE inventory_levels SET reserved = on_hand + 1")
            }
        }
    }

    @Test func levelsListWithFiltersAndALowStockThreshold() async throws {
        try await withApp { app in
            let fixture = try await StockFixture(app)
            try await app.createProduct(TestApp.product(handle: "cup", sku: "CUP-1"), token: fixture.staff)
            let product = try await app.send(.get, "/v1/admin/products?limit=1", token: fixture.staff).jsonObject()
            let mug = try #require((product["data"] as? [[String: Any]])?.first)
            let variantID = try #require((mug["variants"] as? [[String: Any]])?.first?["id"] as? String)
            try await app.send(.patch, "/v1/admin/products/\(mug["id"] as! String)/variants/\(variantID)", token: fixture.staff, json: #"{"low_stock_threshold":5}"#)
            try await app.send(.post, "/v1/admin/inventory/adjustments", token: fixture.staff, json: fixture.adjustment(delta: 3))
            try await app.send(.post, "/v1/admin/inventory/adjustments", token: fixture.staff, json: #"{"sku":"CUP-1","location_id":"\#(fixture.location)","delta":30,"reason":"received"}"#)

            let all = try await app.send(.get, "/v1/admin/inventory", token: fixture.staff).jsonObject()
            #expect((all["data"] as? [[String: Any]])?.map { $0["sku"] as? String } == ["CUP-1", "MUG-1"])
            let low = try await app.send(.get, "/v1/admin/inventory?below_threshold=true", token: fixture.staff).jsonObject()
            #expect((low["data"] as? [[String: Any]])?.map { $0["sku"] as? String } == ["MUG-1"])
            let page = try await app.send(.get, "/v1/admin/inventory?limit=1&location=\(fixture.location)", token: fixture.staff).jsonObject()
            let cursor = try #require(page["next_cursor"] as? String)
            let next = try await app.send(.get, "/v1/admin/inventory?limit=1&cursor=\(cursor)", token: fixture.staff).jsonObject()
            #expect((next["data"] as? [[String: Any]])?.map { $0["sku"] as? String } == ["MUG-1"])
            #expect(try await app.send(.get, "/v1/admin/inventory?below_threshold=maybe", token: fixture.staff).status == .badRequest)
            #expect(try await app.send(.get, "/v1/admin/inventory?cursor=nope", token: fixture.staff).status == .badRequest)
        }
    }

    @Test func anIdempotencyKeyAppliesAnAdjustmentOnce() async throws {
        try await withApp { app in
            let fixture = try await StockFixture(app)
            let headers: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "restock-42"]
            let first = try await app.send(.post, "/v1/admin/inventory/adjustments", token: fixture.staff, json: fixture.adjustment(delta: 5), headers: headers)
            let again = try await app.send(.post, "/v1/admin/inventory/adjustments", token: fixture.staff, json: fixture.adjustment(delta: 5), headers: headers)
            #expect(first.status == .created && again.status == .created)
            #expect(first.text == again.text)
            let other = try await app.send(.post, "/v1/admin/inventory/adjustments", token: fixture.staff, json: fixture.adjustment(delta: 6), headers: headers)
            #expect(other.status == .unprocessableContent)
            #expect(try app.problemType(other) == "urn:emporium:problem:idempotency-key-reused")
            #expect(try await app.stock(fixture).onHand == 5)
            // Keys belong to their caller: another caller's same key is a new request.
            let admin = try await app.signIn("admin@example.com", as: .admin)
            #expect(try await app.send(.post, "/v1/admin/inventory/adjustments", token: admin, json: fixture.adjustment(delta: 5), headers: headers).status == .created)
            #expect(try await app.stock(fixture).onHand == 10)
            // A failed request frees its key.
            let failing = try await app.send(.post, "/v1/admin/inventory/adjustments", token: fixture.staff, json: fixture.adjustment(delta: -50), headers: [HTTPField.Name("Idempotency-Key")!: "k2"])
            #expect(failing.status == .conflict)
            #expect(try await app.send(.post, "/v1/admin/inventory/adjustments", token: fixture.staff, json: fixture.adjustment(delta: -5), headers: [HTTPField.Name("Idempotency-Key")!: "k2"]).status == .created)
            let badKey = try await app.send(.post, "/v1/admin/inventory/adjustments", token: fixture.staff, json: fixture.adjustment(delta: 1), headers: [HTTPField.Name("Idempotency-Key")!: "has space"])
            #expect(badKey.status == .badRequest)
        }
    }

    @Test func aHundredConcurrentAdjustmentsLoseNothing() async throws {
        try await withApp { app in
            let fixture = try await StockFixture(app)
            try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        try await app.send(.post, "/v1/admin/inventory/adjustments", token: fixture.staff, json: fixture.adjustment(delta: 1)).status
                    }
                }
                for try await status in group { #expect(status == .created) }
            }
            let stock = try await app.stock(fixture)
            #expect(stock.onHand == 100 && stock.ledgerOnHand == 100)
        }
    }

    @Test func concurrentRetriesOfOneKeyApplyOnce() async throws {
        try await withApp { app in
            let fixture = try await StockFixture(app)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        try await app.send(
                            .post, "/v1/admin/inventory/adjustments", token: fixture.staff, json: fixture.adjustment(delta: 2),
                            headers: [HTTPField.Name("Idempotency-Key")!: "same"]).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == .created || $0 == .conflict })
            #expect(statuses.contains(.created))
            #expect(try await app.stock(fixture).onHand == 2)
        }
    }

    @Test(arguments: [
        (#"{"sku":"MUG-1","location_id":"L","delta":1,"reason":"received"}"#, "/location_id"),
        (#"{"sku":"MUG-1","location_id":"L","reason":"received"}"#, "/delta"),
        (#"{"sku":"MUG-1","location_id":"L","delta":1,"count":2,"reason":"received"}"#, "/delta"),
        (#"{"sku":"MUG-1","location_id":"L","delta":0,"reason":"received"}"#, "/delta"),
        (#"{"sku":"MUG-1","location_id":"L","count":-1,"reason":"count"}"#, "/count"),
        (#"{"sku":"MUG-1","location_id":"L","delta":1,"reason":"because"}"#, "/reason"),
        (#"{"sku":"NOPE","location_id":"L","delta":1,"reason":"received"}"#, "/sku"),
        (#"{"sku":"MUG-1","location_id":"L","delta":1,"reason":"received","extra":true}"#, "/extra"),
        (#"{"sku":"MUG-1","location_id":"L","delta":"1","reason":"received"}"#, "/delta"),
    ])
    func badAdjustmentsPointAtTheField(body: String, pointer: String) async throws {
        try await withApp { app in
            let fixture = try await StockFixture(app)
            let json = body.replacingOccurrences(of: #""location_id":"L""#, with: pointer == "/location_id" ? #""location_id":"x""# : #""location_id":"\#(fixture.location)""#)
            let response = try await app.send(.post, "/v1/admin/inventory/adjustments", token: fixture.staff, json: json)
            try expectInvalid(response, at: pointer)
            #expect(try await app.stock(fixture).onHand == 0)
        }
    }
}
