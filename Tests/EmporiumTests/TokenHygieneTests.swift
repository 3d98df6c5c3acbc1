import Crypto
@testable import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import EmporiumClient
import HTTPTypes
import HummingbirdTesting
import NIOCore
import JWTKit
import Testing

/// One spelling per access token, a key it must name, claims it must carry, and a generation
/// that ends every earlier token at once.
@Suite struct TokenHygieneTests {
    let key = try! EdDSA.PrivateKey(curve: .ed25519)
    let clock = ManualClock()
    let user = User(id: ID<User>("0193a1b2-0000-7000-8000-0000000000aa")!, email: "ada@example.com", name: "Ada", role: .customer,
                    createdAt: Date(), updatedAt: Date())

    func tokens() async -> AccessTokens {
        await AccessTokens(signingKey: key, clock: clock, ids: SequentialIDGenerator())
    }

    /// The last character of a base64url part with the same six bits' leading ones but other
    /// unused low bits: decoders that ignore those bits read the same bytes.
    static func respelled(_ part: Substring) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let unused = part.count % 4 == 2 ? 4 : 2
        let index = alphabet.firstIndex(of: part.last!)!
        return String(part.dropLast()) + String(alphabet[index ^ 1 << (unused - 1)])
    }

    @Test func onlyTheCanonicalSpellingVerifies() async throws {
        let tokens = await tokens()
        let token = try await tokens.issue(for: user)
        #expect(await tokens.verify(token) != nil)
        let parts = token.split(separator: ".")
        // An Ed25519 signature is 64 bytes: 86 characters, 2 of them carrying 4 unused bits.
        #expect(parts[2].count % 4 == 2)
        let variants = [
            token + "=", token + "==",
            "\(parts[0]).\(parts[1]).\(Self.respelled(parts[2]))",
            "\(parts[0])=.\(parts[1]).\(parts[2])",
            "\(parts[0]).\(parts[1]).\(parts[2].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/"))",
            " \(token)", "\(token).", "\(parts[0])..\(parts[2])",
        ]
        for variant in variants where variant != token {
            #expect(await tokens.verify(variant) == nil, "\(variant.suffix(12))")
        }
        #expect(CanonicalBase64URL.decode("QQ".utf8) == [0x41])
        #expect(CanonicalBase64URL.decode("QR".utf8) == nil)
        #expect(CanonicalBase64URL.decode("QUI".utf8) == [0x41, 0x42])
        #expect(CanonicalBase64URL.decode("QUJ".utf8) == nil)
        #expect(CanonicalBase64URL.decode("Q".utf8) == nil)
        #expect(CanonicalBase64URL.decode("QQ==".utf8) == nil)
    }

    /// Signs `claims` with the same key, under the header JWTKit writes for `kid`.
    func sign(_ claims: AccessClaims, kid: String?) async throws -> String {
        let keys = JWTKeyCollection()
        if let kid {
            await keys.add(eddsa: key, kid: JWKIdentifier(string: kid))
            return try await keys.sign(claims, kid: JWKIdentifier(string: kid))
        }
        await keys.add(eddsa: key)
        return try await keys.sign(claims)
    }

    func claims(iss: String = AccessTokens.issuer, aud: String = AccessTokens.audience, issuedIn offset: TimeInterval = 0) -> AccessClaims {
        let now = clock.now()
        return AccessClaims(
            iss: IssuerClaim(value: iss), aud: AudienceClaim(value: aud), sub: SubjectClaim(value: user.id.description),
            role: .customer, gen: 0, iat: IssuedAtClaim(value: now.addingTimeInterval(offset)),
            exp: ExpirationClaim(value: now.addingTimeInterval(offset + 900)), jti: IDClaim(value: UUID().uuidString))
    }

    @Test func theKeyIDMustNameTheCurrentKeyAndTheClaimsMustFit() async throws {
        let tokens = await tokens()
        let issued = try await tokens.issue(for: user)
        let header = try JSONSerialization.jsonObject(
            with: Data(CanonicalBase64URL.decode(issued.split(separator: ".")[0].utf8)!)) as! [String: Any]
        let kid = try #require(header["kid"] as? String)

        #expect(await tokens.verify(try await sign(claims(), kid: kid)) != nil)
        #expect(await tokens.verify(try await sign(claims(issuedIn: 30), kid: kid)) != nil, "within the clock skew")
        for (why, token) in [
            ("no kid", try await sign(claims(), kid: nil)),
            ("another kid", try await sign(claims(), kid: "0123456789abcdef")),
            ("issued in the future", try await sign(claims(issuedIn: 600), kid: kid)),
            ("another issuer", try await sign(claims(iss: "someone-else"), kid: kid)),
            ("another audience", try await sign(claims(aud: "another-api"), kid: kid)),
        ] {
            #expect(await tokens.verify(token) == nil, "\(why)")
        }
    }

    @Test func signingOutEverywhereEndsEveryTokenAtOnce() async throws {
        try await withApp { app in
            let first = try await app.register("ada@example.com")
            let second = try await app.api.login(body: .json(.init(email: "ada@example.com", password: "correct horse battery"))).ok.body.json
            #expect(try await app.get("/v1/me", token: first.accessToken).status == .ok)

            var headers = HTTPFields()
            headers[.authorization] = "Bearer \(second.accessToken)"
            let ended = try await app.http.execute(uri: "/v1/auth/logout-everywhere", method: .post, headers: headers)
            #expect(ended.status == .noContent)

            for token in [first.accessToken, second.accessToken] {
                #expect(try await app.get("/v1/me", token: token).status == .unauthorized)
            }
            for refresh in [first.refreshToken, second.refreshToken] {
                let response = try await app.post("/v1/auth/refresh", json: #"{"refresh_token":"\#(refresh)"}"#)
                #expect(response.status == .unauthorized || response.status == .badRequest, "\(response.status)")
            }
            // Signing in again works, and the new token is good.
            let third = try await app.api.login(body: .json(.init(email: "ada@example.com", password: "correct horse battery"))).ok.body.json
            #expect(try await app.get("/v1/me", token: third.accessToken).status == .ok)
            let audit = try await app.database.query("SELECT action FROM audit_log WHERE action = 'logout.everywhere'")
            #expect(audit.count == 1)
        }
    }

    @Test func aRoleChangeEndsTheTokensOfTheOldRole() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let staff = try await app.register("staff@example.com")
            let id = try #require(try await app.get("/v1/me", token: staff.accessToken).jsonObject()["id"] as? String)
            var headers = HTTPFields()
            headers[.authorization] = "Bearer \(admin)"
            headers[.contentType] = "application/json"
            let changed = try await app.http.execute(
                uri: "/v1/admin/users/\(id)/role", method: .put, headers: headers, body: .init(string: #"{"role":"staff"}"#))
            #expect(changed.status == .ok)
            #expect(try await app.get("/v1/me", token: staff.accessToken).status == .unauthorized)
            let fresh = try await app.api.refreshTokens(body: .json(.init(refreshToken: staff.refreshToken))).ok.body.json
            let me = try await app.get("/v1/me", token: fresh.accessToken)
            #expect(try me.jsonObject()["role"] as? String == "staff")
        }
    }
}
