@testable import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdOTP
import HummingbirdTesting
import Testing

/// Signing in and out of the back office, its session cookie and its CSRF checks.
@Suite struct AdminSessionTests {
    @Test func visitorsAreSentToSignInAndStaffLandOnTheDashboard() async throws {
        try await withApp { app in
            let browser = AdminTestBrowser(app)
            let away = try await browser.get("/admin/orders")
            #expect(away.status == .seeOther)
            #expect(away.headers[.location] == "/admin/sign-in?next=%2Fadmin%2Forders")
            let form = try await browser.get("/admin/sign-in?next=%2Fadmin%2Forders")
            #expect(form.status == .ok)
            #expect(form.text.contains("<label for=\"email\">E-mail</label>"))
            // The form's token is also in an HttpOnly, SameSite=Strict cookie (plain HTTP here: no prefix).
            let setCookie = try #require(form.headers[.setCookie])
            #expect(setCookie.hasPrefix("emporium_admin_signin=") && setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict"))

            _ = try await app.register("staff@example.com", name: "Sam")
            try await app.database.execute("UPDATE users SET role = 'staff' WHERE email = 'staff@example.com'")
            let signedIn = try await browser.signIn(email: "staff@example.com")
            #expect(signedIn.status == .seeOther)
            #expect(signedIn.headers[.location] == "/admin")
            let session = try #require(signedIn.headers[values: .setCookie].first { $0.hasPrefix("emporium_admin=") })
            #expect(session.contains("HttpOnly") && session.contains("SameSite=Strict") && session.contains("Path=/"))
            // Only the token's digest is stored.
            let token = try #require(browser.cookies["emporium_admin"])
            #expect(try await app.database.queryFirst("SELECT id FROM admin_sessions WHERE token_hash = \(token)") == nil)
            let dashboard = try await browser.get("/admin")
            #expect(dashboard.status == .ok)
            #expect(dashboard.text.contains("<h1>Dashboard</h1>") && dashboard.text.contains("Sam (staff)"))
            #expect(dashboard.text.contains("href=\"/admin/orders\""))
            // Signed in, the sign-in page sends the member on.
            #expect(try await browser.get("/admin/sign-in?next=%2Fadmin%2Forders").headers[.location] == "/admin/orders")
            let audited = try await app.database.query("SELECT action FROM audit_log WHERE action LIKE 'admin.%'").map { try $0.decode("action", as: String.self) }
            #expect(audited == ["admin.signed_in"])
        }
    }

    @Test func wrongPasswordsCustomersAndForgedFormsStartNoSession() async throws {
        try await withApp { app in
            _ = try await app.register("customer@example.com")
            let browser = AdminTestBrowser(app)
            let wrong = try await browser.signIn(email: "customer@example.com", password: "not the password")
            #expect(wrong.status == .unauthorized)
            #expect(wrong.text.contains("The e-mail address or the password is wrong."))
            let customer = try await browser.signIn(email: "customer@example.com")
            #expect(customer.status == .forbidden)
            #expect(customer.text.contains("no access to the back office"))
            // A sign-in form from another site: no cookie, or a token that is not the cookie's.
            let stranger = AdminTestBrowser(app)
            let forged = try await stranger.post(
                "/admin/sign-in", [("form_token", "forged"), ("email", "customer@example.com"), ("password", "correct horse battery")],
                csrf: .some(nil))
            #expect(forged.status == .forbidden)
            #expect(try await app.database.queryFirst("SELECT COUNT(*) AS n FROM admin_sessions")?.decode("n", as: Int64.self) == 0)
            // The API's lock-out applies here too: it is the same throttle.
            for _ in 0..<12 { _ = try await browser.signIn(email: "customer@example.com", password: "not the password") }
            let locked = try await browser.signIn(email: "customer@example.com", password: "not the password")
            #expect(locked.status == .tooManyRequests)
            #expect(locked.headers[.retryAfter] != nil)
        }
    }

    @Test func twoFactorMembersNeedTheirCode() async throws {
        try await withApp { app in
            let token = try await app.signIn("staff@example.com", as: .staff)
            let setup = try await app.send(.post, "/v1/me/mfa/setup", token: token).jsonObject()
            let secret = try #require(setup["secret"] as? String)
            func code(_ offset: TimeInterval) -> String {
                let digits = String(TOTP(secret: secret, timeStep: 30).compute(date: app.clock.now().addingTimeInterval(offset)))
                return String(repeating: "0", count: 6 - digits.count) + digits
            }
            let enable = try await app.send(.post, "/v1/me/mfa/enable", token: token, json: #"{"code":"\#(code(0))"}"#)
            #expect(enable.status == .noContent || enable.status == .ok)
            let browser = AdminTestBrowser(app)
            let asked = try await browser.signIn(email: "staff@example.com")
            #expect(asked.status == .unauthorized)
            #expect(asked.text.contains("enter the current code from your authenticator app"))
            let signedIn = try await browser.signIn(email: "staff@example.com", otp: code(30))
            #expect(signedIn.status == .seeOther, "\(signedIn.text)")
        }
    }

    @Test func tamperedEndedAndDemotedSessionsAreNoSessions() async throws {
        try await withApp { app in
            let browser = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let token = try #require(browser.cookies["emporium_admin"])
            browser.setCookie("emporium_admin", String(token.dropLast()) + (token.hasSuffix("A") ? "B" : "A"))
            #expect(try await browser.get("/admin").status == .seeOther)
            // The cookie under its HTTPS name is not read over plain HTTP.
            browser.setCookie("emporium_admin", nil)
            browser.setCookie("__Host-emporium_admin", token)
            #expect(try await browser.get("/admin").status == .seeOther)
            browser.setCookie("__Host-emporium_admin", nil)
            browser.setCookie("emporium_admin", token)
            #expect(try await browser.get("/admin").status == .ok)
            // Idle for longer than the idle timeout.
            app.clock.advance(by: 31 * 60)
            #expect(try await browser.get("/admin").status == .seeOther)

            let busy = try await AdminTestBrowser.signedIn(app, "busy@example.com", as: .staff)
            for _ in 0..<25 {
                app.clock.advance(by: 29 * 60)
                _ = try await busy.get("/admin")
            }
            // Past the absolute lifetime (12 h) however busy.
            #expect(try await busy.get("/admin").status == .seeOther)

            let demoted = try await AdminTestBrowser.signedIn(app, "demoted@example.com", as: .staff)
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let id = try #require(try await app.database.queryFirst("SELECT id FROM users WHERE email = 'demoted@example.com'")?.decode("id", as: String.self))
            #expect(try await app.send(.put, "/v1/admin/users/\(id)/role", token: admin, json: #"{"role":"customer"}"#).status == .ok)
            #expect(try await demoted.get("/admin").status == .seeOther)
        }
    }

    @Test func signingOutEndsTheSessionAndEverywhereEndsThemAll() async throws {
        try await withApp { app in
            let first = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let second = AdminTestBrowser(app)
            #expect(try await second.signIn(email: "staff@example.com").status == .seeOther)
            let third = AdminTestBrowser(app)
            #expect(try await third.signIn(email: "staff@example.com").status == .seeOther)
            let out = try await first.post("/admin/sign-out")
            #expect(out.status == .seeOther && out.headers[.location] == "/admin/sign-in?signed_out=1")
            #expect(first.cookies["emporium_admin"] == nil)
            #expect(try await first.get("/admin/sign-in?signed_out=1").text.contains("You are signed out."))
            #expect(try await second.get("/admin").status == .ok)
            let everywhere = try await second.post("/admin/sign-out-everywhere")
            #expect(everywhere.status == .seeOther)
            #expect(try await third.get("/admin").status == .seeOther)
            let actions = try await app.database.query("SELECT action FROM audit_log WHERE action IN ('admin.signed_out', 'logout.everywhere')")
                .map { try $0.decode("action", as: String.self) }
            #expect(Set(actions) == ["admin.signed_out", "logout.everywhere"])
        }
    }

    @Test func postsWithoutTheSessionsFormTokenAreRefusedAndChangeNothing() async throws {
        try await withApp { app in
            let mine = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let other = try await AdminTestBrowser.signedIn(app, "other@example.com", as: .staff)
            let othersToken = try #require(other.csrfToken)
            for csrf: String?? in [.some(nil), .some("forged-token-forged-token"), .some(othersToken)] {
                let refused = try await mine.post("/admin/sign-out", csrf: csrf)
                #expect(refused.status == .forbidden)
                #expect(refused.text.contains("This form is out of date"))
            }
            // Still signed in: nothing happened.
            #expect(try await mine.get("/admin").status == .ok)
            let refusals = try await app.database.queryFirst("SELECT COUNT(*) AS n FROM audit_log WHERE action = 'admin.csrf_refused'")
            #expect(try refusals?.decode("n", as: Int64.self) == 3)
        }
    }

    @Test func nextNeverLeavesTheBackOffice() {
        // The redirect after signing in stays on this server's /admin pages.
        for (given, expected) in [
            ("/admin/orders", "/admin/orders"), ("https://evil.example/admin", "/admin"), ("//evil.example", "/admin"),
            ("/admin//evil.example", "/admin"), ("/administrator", "/admin"), ("/admin?status=paid", "/admin?status=paid"), ("/v1/me", "/admin"),
        ] {
            #expect(AdminSignInRoutes.next(given) == expected, "\(given)")
        }
    }
}
