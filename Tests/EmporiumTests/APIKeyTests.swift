import Emporium
import EmporiumClient
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite struct APIKeyTests {
    @Test func theSecretIsShownOnceAndStoredOnlyAsADigest() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let created = try await app.send(
                .post, "/v1/admin/api-keys", token: admin,
                json: #"{"name":" Warehouse ","scopes":["customers:read","catalog:read","customers:read"]}"#)
            #expect(created.status == .created)
            let key = try created.jsonObject()
            let secret = try #require(key["secret"] as? String)
            #expect(secret.hasPrefix("emp_") && secret.count >= 40)
            #expect(key["name"] as? String == "Warehouse")
            #expect(key["scopes"] as? [String] == ["catalog:read", "customers:read"])
            let prefix = try #require(key["prefix"] as? String)
            #expect(secret.hasPrefix(prefix) && prefix.count == 12)

            let listed = try await app.send(.get, "/v1/admin/api-keys", token: admin)
            #expect(!listed.text.contains(secret))
            let entries = try #require(try listed.jsonObject()["data"] as? [[String: Any]])
            #expect(entries.count == 1 && entries[0]["prefix"] as? String == prefix && entries[0]["secret"] == nil)

            let rows = try await app.database.query("SELECT * FROM api_keys")
            for row in rows {
                for column in ["secret_hash", "prefix", "name", "scopes"] {
                    #expect(try row.decode(column, as: String.self) != secret)
                }
            }
            #expect(!app.logs.lines.contains { $0.contains(secret) })
        }
    }

    @Test func aKeyMayDoWhatItsScopesSayAndNoMore() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let reader = try await app.createAPIKey(scopes: [.customersRead], adminToken: admin)
            let other = try await app.createAPIKey(scopes: [.catalogWrite], adminToken: admin)
            #expect(try await app.get("/v1/admin/customers", token: reader).status == .ok)
            let refused = try await app.get("/v1/admin/customers", token: other)
            #expect(refused.status == .forbidden)
            #expect(refused.text.contains("customers:read"))
            // A key is not a person, and never an administrator.
            #expect(try await app.get("/v1/me", token: reader).status == .forbidden)
            #expect(try await app.get("/v1/admin/api-keys", token: reader).status == .forbidden)
            let escalation = try await app.send(.post, "/v1/admin/api-keys", token: reader, json: #"{"name":"x","scopes":["orders:write"]}"#)
            #expect(escalation.status == .forbidden)
            // Unknown and malformed keys are simply not credentials.
            #expect(try await app.get("/v1/admin/customers", token: "emp_" + String(repeating: "A", count: 43)).status == .unauthorized)
            #expect(try await app.get("/v1/admin/customers", token: "emp_").status == .unauthorized)
        }
    }

    @Test func revokedAndExpiredKeysAreRefusedAndBothAreAudited() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let secret = try await app.createAPIKey(scopes: [.customersRead], adminToken: admin)
            #expect(try await app.get("/v1/admin/customers", token: secret).status == .ok)
            let list = try await app.send(.get, "/v1/admin/api-keys", token: admin).jsonObject()
            let id = try #require((list["data"] as? [[String: Any]])?.first?["id"] as? String)
            #expect(try await app.send(.delete, "/v1/admin/api-keys/\(id)", token: admin).status == .noContent)
            #expect(try await app.get("/v1/admin/customers", token: secret).status == .unauthorized)
            // Revoking again changes nothing; unknown and malformed ids are 404.
            #expect(try await app.send(.delete, "/v1/admin/api-keys/\(id)", token: admin).status == .noContent)
            #expect(try await app.send(.delete, "/v1/admin/api-keys/\(UUID())", token: admin).status == .notFound)
            #expect(try await app.send(.delete, "/v1/admin/api-keys/nope", token: admin).status == .notFound)
            let revoked = try await app.send(.get, "/v1/admin/api-keys", token: admin).jsonObject()
            #expect((revoked["data"] as? [[String: Any]])?.first?["revoked_at"] is String)

            let soon = Timestamp.string(from: app.clock.now().addingTimeInterval(60))
            let created = try await app.send(
                .post, "/v1/admin/api-keys", token: admin, json: #"{"name":"Short","scopes":["customers:read"],"expires_at":"\#(soon)"}"#)
            let shortLived = try #require(try created.jsonObject()["secret"] as? String)
            #expect(try await app.get("/v1/admin/customers", token: shortLived).status == .ok)
            app.clock.advance(by: 61)
            #expect(try await app.get("/v1/admin/customers", token: shortLived).status == .unauthorized)

            let audit = try await app.database.query("SELECT action, actor_type FROM audit_log WHERE action LIKE 'api_key.%' ORDER BY id")
            let actions = try audit.map { try $0.decode("action", as: String.self) }
            #expect(actions == ["api_key.created", "api_key.revoked", "api_key.revoked", "api_key.created"])
            #expect(try audit.allSatisfy { try $0.decode("actor_type", as: String.self) == "user" })
        }
    }

    @Test(arguments: [
        (#"{"name":"","scopes":["catalog:read"]}"#, "/name"),
        (#"{"name":"K","scopes":[]}"#, "/scopes"),
        (#"{"name":"K","scopes":["catalog:read","everything"]}"#, "/scopes/1"),
        (#"{"name":"K","scopes":"catalog:read"}"#, "/scopes"),
        (#"{"name":"K","scopes":["catalog:read"],"expires_at":"2001-01-01T00:00:00Z"}"#, "/expires_at"),
        (#"{"name":"K","scopes":["catalog:read"],"expires_at":"tomorrow"}"#, "/expires_at"),
    ])
    func badKeyRequestsPointAtTheField(body: String, pointer: String) async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let response = try await app.send(.post, "/v1/admin/api-keys", token: admin, json: body)
            try expectInvalid(response, at: pointer)
        }
    }
}

@Suite struct StaffAdministrationTests {
    @Test func adminsCreateStaffAndChangeRolesAndBothAreAudited() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let created = try await app.send(
                .post, "/v1/admin/staff", token: admin,
                json: #"{"email":"Clerk@Example.com","name":"Clerk","password":"a long staff password","role":"staff"}"#)
            #expect(created.status == .created)
            let clerk = try created.jsonObject()
            #expect(clerk["role"] as? String == "staff" && clerk["email"] as? String == "clerk@example.com")
            #expect(clerk["password_hash"] == nil && !created.text.contains("a long staff password"))
            let clerkID = try #require(clerk["id"] as? String)

            // The new account signs in and reaches staff routes.
            let login = try await app.post("/v1/auth/login", json: #"{"email":"clerk@example.com","password":"a long staff password"}"#)
            let clerkToken = try #require(try login.jsonObject()["access_token"] as? String)
            #expect(try await app.get("/v1/admin/customers", token: clerkToken).status == .ok)
            // Staff do not manage staff.
            #expect(try await app.send(.put, "/v1/admin/users/\(clerkID)/role", token: clerkToken, json: #"{"role":"admin"}"#).status == .forbidden)

            let demoted = try await app.send(.put, "/v1/admin/users/\(clerkID)/role", token: admin, json: #"{"role":"customer"}"#)
            #expect(demoted.status == .ok)
            #expect(try demoted.jsonObject()["role"] as? String == "customer")
            // A change of role ends the tokens issued under the old one at once.
            #expect(try await app.get("/v1/admin/customers", token: clerkToken).status == .unauthorized)

            let staffList = try await app.send(.get, "/v1/admin/staff", token: admin).jsonObject()
            #expect((staffList["data"] as? [[String: Any]])?.compactMap { $0["email"] as? String } == ["admin@example.com"])

            let audit = try await app.database.query("SELECT action, target FROM audit_log WHERE action IN ('staff.created', 'user.role_changed') ORDER BY id")
            #expect(try audit.map { try $0.decode("action", as: String.self) } == ["staff.created", "user.role_changed"])
            #expect(try audit[1].decode("target", as: String.self) == "\(clerkID): staff -> customer")
        }
    }

    @Test func theLastAdministratorCannotBeDemoted() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let me = try #require(try await app.get("/v1/me", token: admin).jsonObject()["id"] as? String)
            let refused = try await app.send(.put, "/v1/admin/users/\(me)/role", token: admin, json: #"{"role":"staff"}"#)
            #expect(refused.status == .conflict)
            #expect(try app.problemType(refused) == "urn:emporium:problem:last-admin")
            #expect(try await app.send(.put, "/v1/admin/users/\(me)/role", token: admin, json: #"{"role":"admin"}"#).status == .ok)
        }
    }

    @Test func twoAdminsDemotingEachOtherAtOnceLeaveOneAdmin() async throws {
        try await withApp { app in
            let first = try await app.signIn("first@example.com", as: .admin)
            let second = try await app.signIn("second@example.com", as: .admin)
            let firstID = try #require(try await app.get("/v1/me", token: first).jsonObject()["id"] as? String)
            let secondID = try #require(try await app.get("/v1/me", token: second).jsonObject()["id"] as? String)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for (token, target) in [(first, secondID), (second, firstID)] {
                    group.addTask {
                        try await app.send(.put, "/v1/admin/users/\(target)/role", token: token, json: #"{"role":"customer"}"#).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let admins = try #require(try await app.database.queryFirst("SELECT count(*) AS n FROM users WHERE role = 'admin'"))
            #expect(try admins.decode("n", as: Int.self) == 1)
            #expect(statuses.filter { $0 == .ok }.count == 1, "\(statuses)")
        }
    }

    @Test(arguments: [
        (#"{"email":"x","name":"S","password":"a long staff password","role":"staff"}"#, "/email"),
        (#"{"email":"s@example.com","name":"S","password":"short","role":"staff"}"#, "/password"),
        (#"{"email":"s@example.com","name":"S","password":"a long staff password","role":"customer"}"#, "/role"),
        (#"{"email":"s@example.com","name":"S","password":"a long staff password"}"#, "/role"),
    ])
    func badStaffRequestsPointAtTheField(body: String, pointer: String) async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let response = try await app.send(.post, "/v1/admin/staff", token: admin, json: body)
            try expectInvalid(response, at: pointer)
        }
    }

    @Test func roleChangesOfUnknownUsersAndToUnknownRolesAreRefused() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let customer = try await app.register("c@example.com").user.id
            #expect(try await app.send(.put, "/v1/admin/users/\(UUID())/role", token: admin, json: #"{"role":"staff"}"#).status == .notFound)
            #expect(try await app.send(.put, "/v1/admin/users/x/role", token: admin, json: #"{"role":"staff"}"#).status == .notFound)
            #expect(try await app.send(.put, "/v1/admin/users/\(customer)/role", token: admin, json: #"{"role":"root"}"#).status == .badRequest)
            let taken = try await app.send(
                .post, "/v1/admin/staff", token: admin,
                json: #"{"email":"c@example.com","name":"S","password":"a long staff password","role":"staff"}"#)
            #expect(taken.status == .conflict)
        }
    }
}
