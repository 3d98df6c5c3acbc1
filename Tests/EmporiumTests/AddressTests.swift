import Emporium
import EmporiumClient
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import Testing

extension TestApp {
    @discardableResult
    func send(_ method: HTTPRequest.Method, _ uri: String, token: String?, json: String? = nil) async throws -> TestResponse {
        try await send(method, uri, token: token, json: json, headers: [:])
    }
}

@Suite struct AddressTests {
    let home = #"{"recipient":"Ada Lovelace","line1":"12 Secret Street","line2":"Flat 3","city":"London","postal_code":"W1 1AA","country":"gb","phone":"+44 20 7946 0958"}"#

    @Test func customersKeepAnAddressBook() async throws {
        try await withApp { app in
            let token = try await app.register("ada@example.com").accessToken
            let created = try await app.send(.post, "/v1/me/addresses", token: token, json: home)
            #expect(created.status == .created)
            let address = try created.jsonObject()
            #expect(address["country"] as? String == "GB")
            #expect(address["phone"] as? String == "+442079460958")
            let id = try #require(address["id"] as? String)

            let list = try await app.send(.get, "/v1/me/addresses", token: token)
            let data = try #require(try list.jsonObject()["data"] as? [[String: Any]])
            #expect(data.count == 1 && data[0]["line1"] as? String == "12 Secret Street")

            let patched = try await app.send(
                .patch, "/v1/me/addresses/\(id)", token: token, json: #"{"line2":null,"city":"Cambridge"}"#)
            #expect(patched.status == .ok)
            let changed = try patched.jsonObject()
            #expect(changed["line2"] == nil && changed["city"] as? String == "Cambridge")
            #expect(changed["line1"] as? String == "12 Secret Street")

            #expect(try await app.send(.delete, "/v1/me/addresses/\(id)", token: token).status == .noContent)
            #expect(try await app.send(.delete, "/v1/me/addresses/\(id)", token: token).status == .notFound)
        }
    }

    @Test func streetLinesAndPhoneNumbersAreNotStoredInPlainText() async throws {
        try await withApp { app in
            let token = try await app.register("ada@example.com").accessToken
            _ = try await app.send(.post, "/v1/me/addresses", token: token, json: home)
            let row = try #require(try await app.database.queryFirst("SELECT * FROM addresses"))
            for column in ["id", "user_id", "recipient", "line1", "line2", "city", "region", "postal_code", "country", "phone"] {
                let text = "\(try row.value(column) ?? SQLValue.null)"
                #expect(!text.contains("Secret Street") && !text.contains("Flat 3") && !text.contains("7946"), "\(column)")
            }
            #expect(try row.decode("line1", as: String.self).hasPrefix("v1."))
            #expect(try row.decode("city", as: String.self) == "London")
        }
    }

    @Test func anotherCustomersAddressesAreInvisible() async throws {
        try await withApp { app in
            let ada = try await app.register("ada@example.com").accessToken
            let eve = try await app.register("eve@example.com").accessToken
            let id = try #require(try await app.send(.post, "/v1/me/addresses", token: ada, json: home).jsonObject()["id"] as? String)
            #expect(try await app.send(.patch, "/v1/me/addresses/\(id)", token: eve, json: #"{"city":"Paris"}"#).status == .notFound)
            #expect(try await app.send(.delete, "/v1/me/addresses/\(id)", token: eve).status == .notFound)
            let evesList = try await app.send(.get, "/v1/me/addresses", token: eve)
            #expect((try evesList.jsonObject()["data"] as? [Any])?.isEmpty == true)
            #expect(try await app.send(.delete, "/v1/me/addresses/not-a-uuid", token: eve).status == .notFound)
            #expect(try await app.get("/v1/me/addresses", token: nil).status == .unauthorized)
        }
    }

    @Test(arguments: [
        (#"{"recipient":"A","line1":"1 Road","city":"X","country":"XX"}"#, "/country"),
        (#"{"recipient":"A","line1":"1 Road","city":"X","country":"DEU"}"#, "/country"),
        (#"{"recipient":"A","line1":"","city":"X","country":"DE"}"#, "/line1"),
        (#"{"recipient":"A","line1":"1 Road","city":"X","country":"DE","phone":"12345"}"#, "/phone"),
        (#"{"recipient":"A","line1":"1 Road","city":"X","country":"DE","phone":"+49 abc 1234567"}"#, "/phone"),
        (#"{"recipient":"A","line1":"1 Road","country":"DE"}"#, "/city"),
    ])
    func invalidAddressesAre400(body: String, pointer: String) async throws {
        try await withApp { app in
            let token = try await app.register("ada@example.com").accessToken
            let response = try await app.send(.post, "/v1/me/addresses", token: token, json: body)
            try expectInvalid(response, at: pointer)
        }
    }

    @Test func rotatingKeysReencryptsWithTheNewKeyAndKeepsTheData() async throws {
        try await TestDatabase.withFresh { url in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-keys-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let keyFile = folder.appendingPathComponent("keys").path
            func key() -> String { Data((0..<32).map { _ in UInt8.random(in: .min ... .max) }).base64EncodedString() }
            let old = "old \(key())\n"
            try old.write(toFile: keyFile, atomically: true, encoding: .utf8)

            var settings = TestDatabase.configuration(for: url)
            settings.encryptionKeyFile = keyFile
            let configuration = settings
            try await withApp(configure: { $0 = configuration }) { app in
                let token = try await app.register("ada@example.com").accessToken
                #expect(try await app.send(.post, "/v1/me/addresses", token: token, json: home).status == .created)
                // A checkout seals the address twice more: on the cart and on the order.
                let fixture = try await CommerceFixture(app)
                #expect(try await app.checkout(try await app.readyCart(fixture)).status == .created)
            }
            try ("new \(key())\n" + old).write(toFile: keyFile, atomically: true, encoding: .utf8)
            try await withDatabase(configuration, logger: Logger(label: "test")) { database in
                #expect(try await rotateEncryptionKeys(configuration, database: database) == 3)
                #expect(try await rotateEncryptionKeys(configuration, database: database) == 0)
                let row = try #require(try await database.queryFirst("SELECT line1 FROM addresses"))
                #expect(try row.decode("line1", as: String.self).hasPrefix("v1.new."))
                let order = try #require(try await database.queryFirst("SELECT shipping_address FROM orders"))
                #expect(try order.decode("shipping_address", as: String.self).hasPrefix("v1.new."))
            }
        }
    }
}
