import Emporium
import EmporiumClient
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdOTP
import HummingbirdTesting
import Testing

@Suite struct TwoFactorTests {
    let password = #"{"email":"ada@example.com","password":"correct horse battery"}"#

    func code(_ secret: String, _ app: TestApp, offset: TimeInterval = 0) -> String {
        let value = TOTP(secret: secret, timeStep: 30).compute(date: app.clock.now().addingTimeInterval(offset))
        let digits = String(value)
        return String(repeating: "0", count: 6 - digits.count) + digits
    }

    func withTwoFactor(_ body: @escaping @Sendable (TestApp, String, String) async throws -> Void) async throws {
        try await withApp { app in
            let token = try await app.register("ada@example.com").accessToken
            let setup = try await app.send(.post, "/v1/me/mfa/setup", token: token)
            #expect(setup.status == .ok)
            let secret = try #require(try setup.jsonObject()["secret"] as? String)
            #expect((try setup.jsonObject()["otpauth_uri"] as? String)?.hasPrefix("otpauth://totp/") == true)
            let enable = try await app.send(.post, "/v1/me/mfa/enable", token: token, json: #"{"code":"\#(code(secret, app))"}"#)
            #expect(enable.status == .noContent)
            app.clock.advance(by: 30)
            try await body(app, token, secret)
        }
    }

    @Test func signInThenNeedsTheCurrentCode() async throws {
        try await withTwoFactor { app, _, secret in
            let missing = try await app.post("/v1/auth/login", json: password)
            #expect(missing.status == .unauthorized)
            #expect(try app.problemType(missing) == "urn:emporium:problem:mfa-required")

            let wrong = try await app.post(
                "/v1/auth/login", json: #"{"email":"ada@example.com","password":"correct horse battery","totp":"000000"}"#)
            #expect(wrong.status == .unauthorized)
            #expect(try app.problemType(wrong) == "urn:emporium:problem:invalid-mfa-code")

            let current = code(secret, app)
            let body = #"{"email":"ada@example.com","password":"correct horse battery","totp":"\#(current)"}"#
            #expect(try await app.post("/v1/auth/login", json: body).status == .ok)
            // The same code again, still within its window, is refused.
            let replay = try await app.post("/v1/auth/login", json: body)
            #expect(replay.status == .unauthorized)
            #expect(try app.problemType(replay) == "urn:emporium:problem:invalid-mfa-code")
        }
    }

    @Test func theSecretIsEncryptedAtRest() async throws {
        try await withTwoFactor { app, _, secret in
            let row = try #require(try await app.database.queryFirst("SELECT mfa_secret FROM users"))
            let stored = try row.decode("mfa_secret", as: String.self)
            #expect(!stored.contains(secret) && stored.hasPrefix("v1."))
        }
    }

    @Test func concurrentSignInsWithOneCodeSucceedOnce() async throws {
        try await withTwoFactor { app, _, secret in
            let body = #"{"email":"ada@example.com","password":"correct horse battery","totp":"\#(code(secret, app))"}"#
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<4 { group.addTask { try await app.post("/v1/auth/login", json: body).status } }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 1)
        }
    }

    @Test func disablingNeedsACurrentCode() async throws {
        try await withTwoFactor { app, token, secret in
            #expect(try await app.send(.post, "/v1/me/mfa/disable", token: token, json: #"{"code":"123456"}"#).status == .unauthorized)
            #expect(try await app.send(.post, "/v1/me/mfa/setup", token: token).status == .conflict)
            let disable = try await app.send(.post, "/v1/me/mfa/disable", token: token, json: #"{"code":"\#(code(secret, app))"}"#)
            #expect(disable.status == .noContent)
            #expect(try await app.post("/v1/auth/login", json: password).status == .ok)
            let audited = try await app.database.query("SELECT action FROM audit_log WHERE action LIKE 'mfa.%'")
            #expect(audited.count == 2)
        }
    }

    @Test func enablingNeedsSetupAndARightCode() async throws {
        try await withApp { app in
            let token = try await app.register("ada@example.com").accessToken
            #expect(try await app.send(.post, "/v1/me/mfa/enable", token: token, json: #"{"code":"123456"}"#).status == .conflict)
            _ = try await app.send(.post, "/v1/me/mfa/setup", token: token)
            #expect(try await app.send(.post, "/v1/me/mfa/enable", token: token, json: #"{"code":"12345"}"#).status == .unauthorized)
            // Pending secrets do not affect sign-in.
            #expect(try await app.post("/v1/auth/login", json: password).status == .ok)
        }
    }
}
