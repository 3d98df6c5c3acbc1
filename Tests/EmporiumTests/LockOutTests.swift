@testable import Emporium
import EmporiumClient
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// Sign-in throttling that stops a guesser without handing them a way to lock the victim out.
@Suite struct LockOutTests {
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    func login(_ app: TestApp, _ email: String, _ password: String, from address: String) async throws -> HTTPResponse.Status {
        try await app.post(
            "/v1/auth/login", json: #"{"email":"\#(email)","password":"\#(password)"}"#, headers: [Self.forwardedFor: address]
        ).status
    }

    @Test func aGuesserIsStoppedWhileTheVictimSignsInFromTheirUsualAddress() async throws {
        try await withApp(configure: { $0.trustForwardedFor = true }) { app in
            _ = try await app.register("victim@example.com")
            #expect(try await login(app, "victim@example.com", "correct horse battery", from: "192.0.2.10") == .ok)

            // One address: five guesses, then it is locked out of this account.
            for _ in 0..<5 { #expect(try await login(app, "victim@example.com", "wrong guess 123", from: "198.51.100.6") == .unauthorized) }
            #expect(try await login(app, "victim@example.com", "wrong guess 123", from: "198.51.100.6") == .tooManyRequests)
            #expect(try await login(app, "victim@example.com", "correct horse battery", from: "198.51.100.6") == .tooManyRequests)

            // Rotating addresses: from the tenth failure on the account the attempts of unknown addresses wait.
            var statuses: [HTTPResponse.Status] = []
            for index in 0..<10 {
                statuses.append(try await login(app, "victim@example.com", "wrong guess 123", from: "203.0.113.\(index + 1)"))
            }
            #expect(statuses.prefix(4).allSatisfy { $0 == .unauthorized }, "\(statuses)")
            #expect(statuses.suffix(5).allSatisfy { $0 == .tooManyRequests }, "\(statuses)")

            // The victim, from the address they signed in from before, is not held up.
            #expect(try await login(app, "victim@example.com", "correct horse battery", from: "192.0.2.10") == .ok)
            // Nor is anyone else from the attacker's first address.
            _ = try await app.register("neighbour@example.com")
            #expect(try await login(app, "neighbour@example.com", "correct horse battery", from: "198.51.100.6") == .ok)

            // The slow-down of the account is a delay, not a lock: it lifts by itself.
            app.clock.advance(by: 301)
            #expect(try await login(app, "victim@example.com", "correct horse battery", from: "203.0.113.99") == .ok)
        }
    }

    @Test func anAddressTryingManyAccountsSlowsDownButAnOfficeWithTyposDoesNot() async throws {
        try await withApp(configure: { $0.trustForwardedFor = true }) { app in
            _ = try await app.register("regular@example.com")
            #expect(try await login(app, "regular@example.com", "correct horse battery", from: "192.0.2.50") == .ok)
            _ = try await app.register("colleague@example.com")

            // An office: two people mistype four times each; a third signs in. Failures are
            // many, accounts few: nothing is locked.
            for email in ["a@example.com", "b@example.com"] {
                for _ in 0..<4 { #expect(try await login(app, email, "typo typo typo", from: "192.0.2.50") == .unauthorized) }
            }
            #expect(try await login(app, "colleague@example.com", "correct horse battery", from: "192.0.2.50") == .ok)

            // Credential stuffing: one try on each of many accounts.
            var statuses: [HTTPResponse.Status] = []
            for index in 0..<22 {
                statuses.append(try await login(app, "list\(index)@example.com", "leaked password 1", from: "192.0.2.50"))
            }
            #expect(statuses.prefix(17).allSatisfy { $0 == .unauthorized }, "\(statuses)")
            #expect(statuses.suffix(2).allSatisfy { $0 == .tooManyRequests }, "\(statuses)")
            // Someone who has signed in from that address before still can.
            #expect(try await login(app, "regular@example.com", "correct horse battery", from: "192.0.2.50") == .ok)
        }
    }

    @Test func wrongCodesWhenTurningOnTwoFactorSignInAreThrottled() async throws {
        try await withApp { app in
            let token = try await app.register("ada@example.com").accessToken
            var headers = HTTPFields()
            headers[.authorization] = "Bearer \(token)"
            let setup = try await app.http.execute(uri: "/v1/me/mfa/setup", method: .post, headers: headers)
            #expect(setup.status == .ok)
            headers[.contentType] = "application/json"
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<7 {
                let response = try await app.http.execute(
                    uri: "/v1/me/mfa/enable", method: .post, headers: headers, body: ByteBuffer(string: #"{"code":"000000"}"#))
                statuses.append(response.status)
            }
            #expect(statuses.prefix(5).allSatisfy { $0 != .tooManyRequests } && statuses.prefix(5).allSatisfy { $0.code >= 400 }, "\(statuses)")
            #expect(statuses.suffix(2).allSatisfy { $0 == .tooManyRequests }, "\(statuses)")
            let locked = try await app.database.query("SELECT action FROM audit_log WHERE action = 'mfa.locked_out'")
            #expect(locked.count >= 1)
        }
    }
}
