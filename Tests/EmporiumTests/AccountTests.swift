import Emporium
import EmporiumClient
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

extension TestApp {
    /// Registers through the generated client and returns the session.
    func register(_ email: String, password: String = "correct horse battery", name: String = "Ada") async throws
        -> Components.Schemas.Session
    {
        try await api.register(body: .json(.init(email: email, password: password, name: name))).created.body.json
    }

    func post(_ uri: String, json: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        var headers = headers
        headers[.contentType] = "application/json"
        return try await http.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: json))
    }

    func get(_ uri: String, token: String?) async throws -> TestResponse {
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await http.execute(uri: uri, method: .get, headers: headers)
    }

    func problemType(_ response: TestResponse) throws -> String? {
        try response.jsonObject()["type"] as? String
    }
}

@Suite struct RegistrationTests {
    @Test func registeringReturnsTheUserAndATokenPairButNeverAHash() async throws {
        try await withApp { app in
            let session = try await app.register("  Ada@Example.COM ", name: " Ada Lovelace ")
            #expect(session.user.email == "ada@example.com")
            #expect(session.user.name == "Ada Lovelace")
            #expect(session.user.role == .customer)
            #expect(session.tokenType == .bearer && session.expiresIn == 900)
            #expect(!session.accessToken.isEmpty && !session.refreshToken.isEmpty)

            let raw = try await app.post(
                "/v1/auth/register", json: #"{"email":"b@example.com","password":"correct horse battery","name":"B"}"#)
            #expect(raw.status == .created)
            #expect(!raw.text.contains("password") && !raw.text.contains("$2"))
        }
    }

    @Test func aDuplicateEmailIs409WhateverItsCase() async throws {
        try await withApp { app in
            _ = try await app.register("ada@example.com")
            let response = try await app.post(
                "/v1/auth/register", json: #"{"email":"ADA@example.com","password":"correct horse battery","name":"Ada"}"#)
            #expect(response.status == .conflict)
            #expect(try app.problemType(response) == "urn:emporium:problem:email-taken")
        }
    }

    @Test(arguments: [
        (#"{"email":"not-an-email","password":"correct horse battery","name":"Ada"}"#, "/email"),
        (#"{"email":"a@example.com","password":"short","name":"Ada"}"#, "/password"),
        (#"{"email":"a@example.com","password":"\#(String(repeating: "x", count: 129))","name":"Ada"}"#, "/password"),
        (#"{"email":"a@example.com","password":"correct horse battery","name":"   "}"#, "/name"),
        (#"{"email":"a@example.com","password":"correct horse battery"}"#, "/name"),
    ])
    func invalidFieldsAre400WithAPointer(body: String, pointer: String) async throws {
        try await withApp { app in
            let response = try await app.post("/v1/auth/register", json: body)
            try expectInvalid(response, at: pointer)
        }
    }

    @Test func aRoleOrIdInTheBodyChangesNothing() async throws {
        try await withApp { app in
            let response = try await app.post(
                "/v1/auth/register",
                json: #"{"email":"m@example.com","password":"correct horse battery","name":"M","role":"admin","id":"00000000-0000-7000-8000-000000000000"}"#)
            let user = try #require(try response.jsonObject()["user"] as? [String: Any])
            #expect(user["role"] as? String == "customer")
            #expect(user["id"] as? String != "00000000-0000-7000-8000-000000000000")
        }
    }

    @Test func passwordsAreStoredHashedAndNeverLogged() async throws {
        try await withApp { app in
            let password = "a very secret passphrase 42"
            let session = try await app.register("s@example.com", password: password)
            let row = try #require(try await app.database.queryFirst("SELECT password_hash FROM users"))
            let hash = try row.decode("password_hash", as: String.self)
            #expect(hash.hasPrefix("$2") && !hash.contains(password))
            let logs = app.logs.lines.joined(separator: "\n")
            #expect(!logs.contains(password))
            #expect(!logs.contains(session.refreshToken))
            #expect(!logs.contains(session.accessToken))
        }
    }
}

@Suite struct LoginTests {
    @Test func rightPasswordSignsIn() async throws {
        try await withApp { app in
            _ = try await app.register("ada@example.com")
            let session = try await app.api.login(body: .json(.init(email: "ADA@example.com", password: "correct horse battery")))
                .ok.body.json
            #expect(session.user.email == "ada@example.com")
            let me = try await app.get("/v1/me", token: session.accessToken)
            #expect(me.status == .ok)
            #expect(try me.jsonObject()["email"] as? String == "ada@example.com")
        }
    }

    @Test func wrongPasswordAndUnknownEmailLookTheSame() async throws {
        try await withApp { app in
            _ = try await app.register("ada@example.com")
            let wrong = try await app.post("/v1/auth/login", json: #"{"email":"ada@example.com","password":"not the password!"}"#)
            let unknown = try await app.post("/v1/auth/login", json: #"{"email":"nobody@example.com","password":"not the password!"}"#)
            for response in [wrong, unknown] {
                #expect(response.status == .unauthorized)
                #expect(try app.problemType(response) == "urn:emporium:problem:invalid-credentials")
            }
            #expect(try wrong.jsonObject()["detail"] as? String == unknown.jsonObject()["detail"] as? String)
            let failures = try await app.database.query("SELECT action FROM audit_log WHERE action = 'login.failed'")
            #expect(failures.count == 2)
        }
    }
}

@Suite struct AccessTokenTests {
    @Test func meNeedsAValidBearerToken() async throws {
        try await withApp { app in
            let session = try await app.register("ada@example.com")
            let parts = session.accessToken.split(separator: ".")
            let header = Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64EncodedString()
                .replacingOccurrences(of: "=", with: "")
            let unsigned = header + "." + parts[1] + "."
            let tampered = parts[0] + "." + parts[1].dropLast(2) + "AA." + parts[2]
            for token in [nil, "", "garbage", "a.b.c", unsigned, String(tampered), session.refreshToken] as [String?] {
                let response = try await app.get("/v1/me", token: token)
                #expect(response.status == .unauthorized, "token \(token ?? "nil")")
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
                #expect(try app.problemType(response) == "urn:emporium:problem:unauthenticated")
            }
            let basic = try await app.http.execute(uri: "/v1/me", method: .get, headers: [.authorization: "Basic YTpi"])
            #expect(basic.status == .unauthorized)
        }
    }

    @Test func theBearerSchemeIsCaseInsensitiveAndSpacesAroundTheTokenDoNotCount() async throws {
        try await withApp { app in
            let token = try await app.register("ada@example.com").accessToken
            for header in ["bearer \(token)", "BEARER   \(token)  ", "Bearer\t\(token)"] {
                let response = try await app.http.execute(uri: "/v1/me", method: .get, headers: [.authorization: header])
                #expect(response.status == (header.hasPrefix("Bearer\t") ? .unauthorized : .ok), "\(header.prefix(10))")
            }
            for header in ["Bearer", "Bearer ", "Bearer    ", "Bearerx \(token)", "Bear \(token)"] {
                let response = try await app.http.execute(uri: "/v1/me", method: .get, headers: [.authorization: header])
                #expect(response.status == .unauthorized, "\(header.prefix(10))")
            }
        }
    }

    @Test func aTokenSignedWithAnotherKeyIsRefused() async throws {
        let foreign = try await withApp { app in try await app.register("x@example.com").accessToken }
        try await withApp { app in
            _ = try await app.register("x@example.com")
            #expect(try await app.get("/v1/me", token: foreign).status == .unauthorized)
        }
    }

    @Test func tokensExpireAfterFifteenMinutes() async throws {
        try await withApp { app in
            let session = try await app.register("ada@example.com")
            app.clock.advance(by: 14 * 60)
            #expect(try await app.get("/v1/me", token: session.accessToken).status == .ok)
            app.clock.advance(by: 2 * 60)
            #expect(try await app.get("/v1/me", token: session.accessToken).status == .unauthorized)
        }
    }

    @Test func aDeletedUsersTokenStopsWorking() async throws {
        try await withApp { app in
            let session = try await app.register("ada@example.com")
            try await app.database.execute("DELETE FROM users")
            #expect(try await app.get("/v1/me", token: session.accessToken).status == .unauthorized)
        }
    }

    @Test func profileUpdatesChangeTheNameAndNothingElse() async throws {
        try await withApp { app in
            let session = try await app.register("ada@example.com")
            let response = try await app.http.execute(
                uri: "/v1/me", method: .patch,
                headers: [.authorization: "Bearer \(session.accessToken)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"name":"Countess","role":"admin","email":"evil@example.com"}"#))
            #expect(response.status == .ok)
            let user = try response.jsonObject()
            #expect(user["name"] as? String == "Countess")
            #expect(user["role"] as? String == "customer")
            #expect(user["email"] as? String == "ada@example.com")
            let unauthenticated = try await app.http.execute(
                uri: "/v1/me", method: .patch, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"name":"X"}"#))
            #expect(unauthenticated.status == .unauthorized)
        }
    }
}

@Suite struct RefreshTokenTests {
    @Test func refreshingRotatesTheToken() async throws {
        try await withApp { app in
            let first = try await app.register("ada@example.com")
            let second = try await app.api.refreshTokens(body: .json(.init(refreshToken: first.refreshToken))).ok.body.json
            #expect(second.refreshToken != first.refreshToken)
            #expect(try await app.get("/v1/me", token: second.accessToken).status == .ok)
            let stored = try await app.database.query("SELECT token_hash FROM refresh_tokens")
            #expect(try stored.allSatisfy { try $0.decode("token_hash", as: String.self) != first.refreshToken })
        }
    }

    @Test func replayingAUsedTokenRevokesTheWholeFamilyAndIsAudited() async throws {
        try await withApp { app in
            let first = try await app.register("ada@example.com")
            let second = try await app.api.refreshTokens(body: .json(.init(refreshToken: first.refreshToken))).ok.body.json
            let replay = try await app.post("/v1/auth/refresh", json: #"{"refresh_token":"\#(first.refreshToken)"}"#)
            #expect(replay.status == .unauthorized)
            #expect(try app.problemType(replay) == "urn:emporium:problem:invalid-token")
            // The thief's replay also kills the legitimate holder's newer token.
            let afterTheft = try await app.post("/v1/auth/refresh", json: #"{"refresh_token":"\#(second.refreshToken)"}"#)
            #expect(afterTheft.status == .unauthorized)
            let audited = try await app.database.query("SELECT actor_id FROM audit_log WHERE action = 'refresh_token.reused'")
            #expect(audited.count >= 1)
        }
    }

    @Test func concurrentRefreshesWithOneTokenYieldOneNewPair() async throws {
        try await withApp { app in
            let session = try await app.register("ada@example.com")
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        try await app.post("/v1/auth/refresh", json: #"{"refresh_token":"\#(session.refreshToken)"}"#).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 1)
            #expect(statuses.filter { $0 == .unauthorized }.count == 9)
        }
    }

    @Test func logoutRevokesTheFamilyAndUnknownTokensAreFine() async throws {
        try await withApp { app in
            let session = try await app.register("ada@example.com")
            let logout = try await app.post("/v1/auth/logout", json: #"{"refresh_token":"\#(session.refreshToken)"}"#)
            #expect(logout.status == .noContent)
            #expect(try await app.post("/v1/auth/refresh", json: #"{"refresh_token":"\#(session.refreshToken)"}"#).status == .unauthorized)
            #expect(try await app.post("/v1/auth/logout", json: #"{"refresh_token":"never-issued"}"#).status == .noContent)
        }
    }

    @Test func expiredRefreshTokensAreRefused() async throws {
        try await withApp { app in
            let session = try await app.register("ada@example.com")
            app.clock.advance(by: 31 * 24 * 3600)
            #expect(try await app.post("/v1/auth/refresh", json: #"{"refresh_token":"\#(session.refreshToken)"}"#).status == .unauthorized)
        }
    }
}

@Suite struct BruteForceTests {
    let wrong = #"{"email":"ada@example.com","password":"not the password!"}"#
    let right = #"{"email":"ada@example.com","password":"correct horse battery"}"#

    @Test func fiveFailuresLockTheAccountWithAGrowingRetryAfter() async throws {
        try await withApp { app in
            _ = try await app.register("ada@example.com")
            for _ in 0..<5 {
                #expect(try await app.post("/v1/auth/login", json: wrong).status == .unauthorized)
            }
            // Locked: even the right password is refused, without being checked.
            let locked = try await app.post("/v1/auth/login", json: right)
            #expect(locked.status == .tooManyRequests)
            #expect(try app.problemType(locked) == "urn:emporium:problem:too-many-attempts")
            #expect(locked.headers[.retryAfter] == "30")

            app.clock.advance(by: 31)
            #expect(try await app.post("/v1/auth/login", json: wrong).status == .unauthorized)
            let longer = try await app.post("/v1/auth/login", json: right)
            #expect(longer.status == .tooManyRequests)
            #expect(longer.headers[.retryAfter] == "60")

            app.clock.advance(by: 61)
            #expect(try await app.post("/v1/auth/login", json: right).status == .ok)
            // Success cleared the count: one more failure does not lock again.
            #expect(try await app.post("/v1/auth/login", json: wrong).status == .unauthorized)
            #expect(try await app.post("/v1/auth/login", json: right).status == .ok)

            let lockouts = try await app.database.query("SELECT target FROM audit_log WHERE action = 'login.locked_out'")
            #expect(lockouts.count == 2)
        }
    }

    @Test func oneAddressGuessingManyAccountsIsLockedOut() async throws {
        try await withApp { app in
            for index in 0..<20 {
                let body = #"{"email":"user\#(index)@example.com","password":"not the password!"}"#
                #expect(try await app.post("/v1/auth/login", json: body).status == .unauthorized)
            }
            let next = try await app.post("/v1/auth/login", json: #"{"email":"other@example.com","password":"whatever it is"}"#)
            #expect(next.status == .tooManyRequests)
            #expect(Int(next.headers[.retryAfter] ?? "") ?? 0 >= 1)
        }
    }

    @Test func failuresOlderThanTheWindowAreForgotten() async throws {
        try await withApp { app in
            _ = try await app.register("ada@example.com")
            for _ in 0..<4 { _ = try await app.post("/v1/auth/login", json: wrong) }
            app.clock.advance(by: 2 * 3600)
            #expect(try await app.post("/v1/auth/login", json: wrong).status == .unauthorized)
            #expect(try await app.post("/v1/auth/login", json: right).status == .ok)
        }
    }
}

@Suite struct PasswordResetTests {
    func token(in mail: String) throws -> String {
        let range = try #require(mail.range(of: #"\?token=([A-Za-z0-9_-]+)"#, options: .regularExpression))
        return String(mail[range].dropFirst("?token=".count))
    }

    @Test func aResetLinkSetsANewPasswordAndSignsOutEverywhere() async throws {
        try await withApp { app in
            let session = try await app.register("ada@example.com")
            let request = try await app.post("/v1/auth/password-reset", json: #"{"email":"ADA@example.com"}"#)
            #expect(request.status == .accepted)
            let mail = try #require(try await app.sentMail().first)
            #expect(mail.contains("To: ada@example.com") && mail.contains("Subject: Reset your password"))
            let token = try token(in: mail)
            let stored = try await app.database.query("SELECT token_hash FROM password_resets")
            #expect(try stored.allSatisfy { try $0.decode("token_hash", as: String.self) != token })

            let confirm = try await app.post(
                "/v1/auth/password-reset/confirm", json: #"{"token":"\#(token)","password":"a brand new passphrase"}"#)
            #expect(confirm.status == .noContent)
            #expect(try await app.post("/v1/auth/login", json: #"{"email":"ada@example.com","password":"a brand new passphrase"}"#).status == .ok)
            #expect(try await app.post("/v1/auth/login", json: #"{"email":"ada@example.com","password":"correct horse battery"}"#).status == .unauthorized)
            // Every refresh token from before is revoked.
            #expect(try await app.post("/v1/auth/refresh", json: #"{"refresh_token":"\#(session.refreshToken)"}"#).status == .unauthorized)
            // The link works once.
            let again = try await app.post(
                "/v1/auth/password-reset/confirm", json: #"{"token":"\#(token)","password":"yet another passphrase"}"#)
            #expect(again.status == .badRequest)
            #expect(try app.problemType(again) == "urn:emporium:problem:invalid-reset-token")
            #expect(!app.logs.lines.joined().contains(token))
        }
    }

    @Test func unknownAddressesGetTheSameAnswerAndNoMail() async throws {
        try await withApp { app in
            let status1 = try await app.post("/v1/auth/password-reset", json: #"{"email":"nobody@example.com"}"#).status
            #expect(status1 == .accepted)
            let status2 = try await app.post("/v1/auth/password-reset", json: #"{"email":"not an address"}"#).status
            #expect(status2 == .accepted)
            #expect(try await app.sentMail().isEmpty)
        }
    }

    @Test func linksExpireAfterThirtyMinutesAndWeakPasswordsAreRefused() async throws {
        try await withApp { app in
            _ = try await app.register("ada@example.com")
            _ = try await app.post("/v1/auth/password-reset", json: #"{"email":"ada@example.com"}"#)
            let token = try token(in: try #require(try await app.sentMail().first))
            let weak = try await app.post("/v1/auth/password-reset/confirm", json: #"{"token":"\#(token)","password":"short"}"#)
            #expect(weak.status == .badRequest)
            app.clock.advance(by: 31 * 60)
            let late = try await app.post(
                "/v1/auth/password-reset/confirm", json: #"{"token":"\#(token)","password":"a brand new passphrase"}"#)
            #expect(late.status == .badRequest)
        }
    }

    @Test func resetRequestsAndSignUpsAreRateLimitedPerAddress() async throws {
        try await withApp { app in
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<11 {
                statuses.append(try await app.post("/v1/auth/password-reset", json: #"{"email":"x@example.com"}"#).status)
            }
            #expect(statuses.prefix(10).allSatisfy { $0 == .accepted })
            #expect(statuses.last == .tooManyRequests)

            for index in 0..<20 { _ = try await app.register("user\(index)@example.com") }
            let blocked = try await app.post(
                "/v1/auth/register", json: #"{"email":"late@example.com","password":"correct horse battery","name":"L"}"#)
            #expect(blocked.status == .tooManyRequests)
            #expect(blocked.headers[.retryAfter] != nil)
        }
    }
}
