@testable import Emporium
import EmporiumClient
import EmporiumCore
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// The authenticator's one-second memory of users: writes on this node take effect at once,
/// and a read that raced a write never puts the old row back.
@Suite struct RecentUsersTests {
    let ada = User(
        id: ID<User>("0193a1b2-0000-7000-8000-0000000000ab")!, email: "ada@example.com", name: "Ada", role: .customer,
        createdAt: Date(), updatedAt: Date())

    @Test func keepsAUserForItsLifetimeOnly() {
        let users = RecentUsers(lifetime: .seconds(1))
        let start = ContinuousClock.now
        users.remember(ada, readAt: start)
        #expect(users.user(ada.id, now: start + .milliseconds(999)) == ada)
        #expect(users.user(ada.id, now: start + .seconds(1)) == nil)
        #expect(users.count == 0)
    }

    @Test func aReadThatBeganBeforeAWriteIsNotKept() {
        let users = RecentUsers(lifetime: .seconds(1), quiet: .seconds(5))
        let start = ContinuousClock.now
        users.remember(ada, readAt: start)
        // A request reads the row, a write forgets it before committing, the read finishes.
        let readBegan = start + .milliseconds(10)
        users.forget(ada.id, now: start + .milliseconds(20))
        users.remember(ada, readAt: readBegan)
        #expect(users.user(ada.id, now: start + .milliseconds(30)) == nil)
        // Reads that begin long after the write are kept again.
        users.remember(ada, readAt: start + .seconds(6))
        #expect(users.user(ada.id, now: start + .seconds(6)) == ada)
    }

    @Test func staysWithinItsCapacity() {
        let users = RecentUsers(lifetime: .seconds(60), capacity: 100)
        let now = ContinuousClock.now
        for index in 0..<1_000 {
            let id = ID<User>(String(format: "0193a1b2-0000-7000-8000-%012d", index))!
            users.remember(User(id: id, email: "u\(index)@example.com", name: "U", role: .customer, createdAt: Date(), updatedAt: Date()), readAt: now)
            #expect(users.count <= 100)
        }
    }

    /// Each request below follows one that put the user in the cache.
    @Test func renameRoleChangeAndSignOutEverywhereTakeEffectAtOnce() async throws {
        try await withApp { app in
            let admin = try await app.signIn("boss@example.com", as: .admin)
            let session = try await app.register("shopper@example.com", name: "Before")
            let token = session.accessToken
            let auth: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json"]

            #expect(try await app.get("/v1/me", token: token).jsonObject()["name"] as? String == "Before")
            let renamed = try await app.http.execute(
                uri: "/v1/me", method: .patch, headers: auth, body: ByteBuffer(string: #"{"name":"After"}"#))
            #expect(renamed.status == .ok)
            #expect(try await app.get("/v1/me", token: token).jsonObject()["name"] as? String == "After")

            // A role change ends the person's tokens, on this node at once.
            let id = session.user.id
            let promoted = try await app.http.execute(
                uri: "/v1/admin/users/\(id)/role", method: .put,
                headers: [.authorization: "Bearer \(admin)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"role":"staff"}"#))
            #expect(promoted.status == .ok)
            #expect(try await app.get("/v1/me", token: token).status == .unauthorized)

            // Sign-out everywhere, right after the token was used.
            let other = try await app.register("other@example.com").accessToken
            #expect(try await app.get("/v1/me", token: other).status == .ok)
            let out = try await app.http.execute(
                uri: "/v1/auth/logout-everywhere", method: .post, headers: [.authorization: "Bearer \(other)"])
            #expect(out.status == .noContent)
            #expect(try await app.get("/v1/me", token: other).status == .unauthorized)
        }
    }
}
