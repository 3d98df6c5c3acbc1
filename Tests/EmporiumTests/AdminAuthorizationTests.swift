@testable import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// Every back-office route against a visitor without a session and members of each role,
/// with a live session and the session's form token. A route under /admin missing from
/// `rows` fails the first test, so each new page must say who may use it. (The bearer-token
/// callers of `AuthorizationMatrixTests` are all visitors here: a token opens no session.)
@Suite struct AdminAuthorizationTests {
    struct Row {
        let method: HTTPRequest.Method
        /// `{order}`, `{product}`, `{variant}`, `{category}`, `{customer}`, `{location}`, `{key}` are filled in.
        let path: String
        let anonymous: HTTPResponse.Status
        let staff: HTTPResponse.Status
        let admin: HTTPResponse.Status
        /// Form fields of a POST (the CSRF token is added).
        var form: [(String, String)] = []
    }

    /// Pages every member may open; visitors are sent to sign in.
    static func staffPage(_ path: String) -> Row { Row(method: .get, path: path, anonymous: .seeOther, staff: .ok, admin: .ok) }
    /// Pages for admins only: staff get the 403 page.
    static func adminPage(_ path: String) -> Row { Row(method: .get, path: path, anonymous: .seeOther, staff: .forbidden, admin: .ok) }
    /// Form targets; an unconfirmed or incomplete form is sent back to its page (303).
    static func staffAction(_ path: String) -> Row { Row(method: .post, path: path, anonymous: .seeOther, staff: .seeOther, admin: .seeOther) }
    static func adminAction(_ path: String) -> Row { Row(method: .post, path: path, anonymous: .seeOther, staff: .forbidden, admin: .seeOther) }

    /// Form targets that show an incomplete form again with its messages (422).
    static func formAgain(_ path: String) -> Row {
        Row(method: .post, path: path, anonymous: .seeOther, staff: .unprocessableContent, admin: .unprocessableContent)
    }

    static let rows: [Row] = [
        staffPage("/admin"),
        Row(method: .get, path: "/admin/sign-in", anonymous: .ok, staff: .seeOther, admin: .seeOther),
        // Without the sign-in form's token.
        Row(method: .post, path: "/admin/sign-in", anonymous: .forbidden, staff: .forbidden, admin: .forbidden),
        Row(method: .get, path: "/admin/assets/admin.css", anonymous: .ok, staff: .ok, admin: .ok),
        Row(method: .get, path: "/admin/assets/icon.svg", anonymous: .ok, staff: .ok, admin: .ok),
        staffPage("/admin/orders"),
        staffPage("/admin/orders/{order}"),
        staffAction("/admin/orders/{order}/capture"),
        staffAction("/admin/orders/{order}/refunds"),
        staffAction("/admin/orders/{order}/cancel"),
        staffAction("/admin/orders/{order}/fulfillments"),
        adminPage("/admin/staff"),
        adminAction("/admin/staff"),
        adminAction("/admin/staff/{customer}/role"),
        adminAction("/admin/api-keys"),
        adminAction("/admin/api-keys/{key}/revoke"),
        adminPage("/admin/apps"),
        adminAction("/admin/apps"),
        adminAction("/admin/apps/{order}/delete"),
        // Webhooks and jobs, administrators only. An order's id names no endpoint and no job:
        // the pages answer 404 to an administrator, the forms go back with the message.
        adminPage("/admin/webhooks"),
        adminAction("/admin/webhooks"),
        Row(method: .get, path: "/admin/webhooks/{order}", anonymous: .seeOther, staff: .forbidden, admin: .notFound),
        adminAction("/admin/webhooks/{order}/active"),
        adminAction("/admin/webhooks/{order}/delete"),
        adminAction("/admin/webhooks/{order}/deliveries/{order}/redeliver"),
        adminPage("/admin/jobs"),
        Row(method: .get, path: "/admin/jobs/{order}", anonymous: .seeOther, staff: .forbidden, admin: .notFound),
        adminAction("/admin/jobs/{order}/retry"),
        adminPage("/admin/tax-rates"),
        adminAction("/admin/tax-rates"),
        Row(method: .get, path: "/admin/tax-rates/{order}", anonymous: .seeOther, staff: .forbidden, admin: .notFound),
        adminAction("/admin/tax-rates/{order}"),
        adminAction("/admin/tax-rates/{order}/delete"),
        adminPage("/admin/shipping-methods"),
        adminAction("/admin/shipping-methods"),
        Row(method: .get, path: "/admin/shipping-methods/{order}", anonymous: .seeOther, staff: .forbidden, admin: .notFound),
        adminAction("/admin/shipping-methods/{order}"),
        adminAction("/admin/shipping-methods/{order}/delete"),
        staffPage("/admin/discounts"),
        staffAction("/admin/discounts"),
        Row(method: .get, path: "/admin/discounts/{order}", anonymous: .seeOther, staff: .notFound, admin: .notFound),
        staffAction("/admin/discounts/{order}"),
        staffAction("/admin/discounts/{order}/delete"),
        // Catalogue, inventory, customers, audit log. An empty form is shown again with its
        // messages (422); a destructive one without its ticked box goes back to its page (303).
        staffPage("/admin/products"),
        formAgain("/admin/products"),
        staffPage("/admin/products/new"),
        staffPage("/admin/products/import"),
        formAgain("/admin/products/import"),
        staffPage("/admin/products/export"),
        staffPage("/admin/products/{product}"),
        formAgain("/admin/products/{product}"),
        staffPage("/admin/products/{product}/archive"),
        staffAction("/admin/products/{product}/archive"),
        staffPage("/admin/products/{product}/variants/new"),
        formAgain("/admin/products/{product}/variants"),
        staffPage("/admin/products/{product}/variants/{variant}"),
        formAgain("/admin/products/{product}/variants/{variant}"),
        staffAction("/admin/products/{product}/variants/{variant}/delete"),
        staffPage("/admin/categories"),
        formAgain("/admin/categories"),
        staffPage("/admin/categories/new"),
        staffPage("/admin/categories/{category}"),
        formAgain("/admin/categories/{category}"),
        staffPage("/admin/inventory"),
        staffPage("/admin/inventory/variants/{variant}"),
        formAgain("/admin/inventory/variants/{variant}/adjustments"),
        staffPage("/admin/customers"),
        staffPage("/admin/customers/{customer}"),
        adminPage("/admin/audit-log"),
        // Last: they end the session.
        staffAction("/admin/sign-out-everywhere"),
        staffAction("/admin/sign-out"),
    ]

    @Test func everyBackOfficeRouteHasARow() async throws {
        try await withApp { app in
            func shape(_ path: String) -> String { path.replacing(#/\{[a-z_]+\}|:[a-z_]+/#, with: "*") }
            let known = Set(Self.rows.map { "\($0.method.rawValue) \(shape($0.path))" })
            for route in app.routes.routes where route.path == "/admin" || route.path.hasPrefix("/admin/") {
                #expect(known.contains("\(route.method.rawValue) \(shape(route.path))"), "no row in AdminAuthorizationTests for \(route.method) \(route.path)")
            }
        }
    }

    @Test func everyMemberGetsWhatTheTableSays() async throws {
        try await withApp(configure: { $0.paymentCapture = .manual }) { app in
            let fixture = try await CommerceFixture(app)
            let customer = try await app.signIn("customer@example.com", as: .customer)
            let orderID = try #require(
                try await app.checkout(try await app.readyCart(fixture, token: customer)).jsonObject()["id"] as? String)
            let product = try #require(try await app.database.queryFirst("SELECT product_id FROM variants")?.decode("product_id", as: String.self))
            let category = try await app.send(.post, "/v1/admin/categories", token: fixture.admin, json: #"{"slug":"cups","name":"Cups"}"#)
            let customerID = try #require(try await app.send(.get, "/v1/me", token: customer).jsonObject()["id"] as? String)
            let secret = try await app.createAPIKey(scopes: [.catalogRead], adminToken: fixture.admin)
            let keyID = try #require(try await app.database.queryFirst("SELECT id FROM api_keys")?.decode("id", as: String.self), "\(secret.prefix(4))")
            let values = [
                "{key}": keyID, "{order}": orderID, "{product}": product, "{variant}": fixture.variantID, "{location}": fixture.location,
                "{category}": try #require(try category.jsonObject()["id"] as? String), "{customer}": customerID,
            ]
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let admin = try await AdminTestBrowser.signedIn(app, "boss@example.com", as: .admin)
            let visitor = AdminTestBrowser(app)
            for row in Self.rows {
                let path = values.reduce(row.path) { $0.replacingOccurrences(of: $1.key, with: $1.value) }
                for (browser, expected, who) in [(visitor, row.anonymous, "visitor"), (staff, row.staff, "staff"), (admin, row.admin, "admin")] {
                    let before = try await Self.changes(app)
                    let response = row.method == .get ? try await browser.get(path) : try await browser.post(path, row.form)
                    #expect(response.status == expected, "\(row.method) \(path) as \(who): \(response.status)")
                    if expected == .forbidden || who == "visitor" {
                        // Refused: nothing changed but the audit log's note of the refusal.
                        #expect(try await Self.changes(app) == before, "\(row.method) \(path) as \(who) changed something")
                    }
                }
            }
        }
    }

    /// A fingerprint of what pages could change: orders, payments, stock, the catalog, users.
    static func changes(_ app: TestApp) async throws -> [String] {
        var fingerprint: [String] = []
        for table in ["orders", "payments", "refunds", "fulfillments", "inventory_levels", "products", "variants", "categories", "users"] {
            let row = try await app.database.queryFirst("SELECT COUNT(*) AS n FROM \(unsafeRaw: table)")
            fingerprint.append("\(table) \(try row?.decode("n", as: Int64.self) ?? -1)")
        }
        let status = try await app.database.query("SELECT status FROM orders ORDER BY id").map { try $0.decode("status", as: String.self) }
        let revoked = try await app.database.query("SELECT id FROM api_keys WHERE revoked_at IS NOT NULL").count
        return fingerprint + status + ["revoked keys \(revoked)"]
    }
}
