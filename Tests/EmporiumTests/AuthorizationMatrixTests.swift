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
    /// A signed-in user of `role`, by registering and then changing the role in the database.
    func signIn(_ email: String, as role: Role) async throws -> String {
        let session = try await register(email)
        if role != .customer {
            try await database.execute("UPDATE users SET role = \(role.rawValue) WHERE email = \(email)")
        }
        return session.accessToken
    }
}

/// Every route against every kind of caller. A route missing from `expectations` fails the
/// first test, so each new route must say who may call it.
@Suite struct AuthorizationMatrixTests {
    enum Caller: CaseIterable {
        /// Third-party apps' tokens. Their expectations are derived from the others' (see
        /// `expected(_:for:)`), so rows name only people and keys. They come first: the last
        /// row signs people out everywhere, which ends the apps' grants of those people too.
        case appWithScope, appWithoutScope, staffGrantedWithScope, staffGrantedWithoutScope, customerGranted
        case anonymous, customer, anotherCustomer, staff, admin
        /// An API key holding every scope but the route's own.
        case keyWithoutScope
        /// An API key holding only the route's scope (every scope for routes that name none).
        case keyWithScope
    }

    /// The expected status per caller; `nil` means "not an authorization failure" (any of
    /// 2xx, 400, 404, 409 as the route's own rules decide). `scope` is what lets an API key in.
    struct Expectation {
        let method: HTTPRequest.Method
        let path: String
        let body: String?
        var scope: Scope? = nil
        let statuses: [Caller: HTTPResponse.Status?]
        /// Where an app's token does not follow from the rule in `expected(_:for:)`.
        var apps: [Caller: HTTPResponse.Status?] = [:]
    }

    /// What an app token gets, unless the row says otherwise. An app acting for itself
    /// (client credentials) is an API key with the same scopes. An app a staff member granted
    /// scopes gets what the staff member gets where its scope lets it in, and what a key gets
    /// elsewhere. An app a customer granted `orders:read` reads that customer's orders (the
    /// customer's answer) and nothing else of the shop.
    static func expected(_ expectation: Expectation, for caller: Caller) -> HTTPResponse.Status?? {
        if let status = expectation.apps[caller] { return .some(status) }
        let statuses = expectation.statuses
        switch caller {
        case .appWithScope: return statuses[.keyWithScope]
        case .appWithoutScope, .staffGrantedWithoutScope: return statuses[.keyWithoutScope]
        case .staffGrantedWithScope: return expectation.scope == nil ? statuses[.keyWithScope] : statuses[.staff]
        case .customerGranted:
            switch expectation.scope {
            case nil: return statuses[.keyWithScope]
            case .ordersRead?: return statuses[.customer] == .some(.forbidden) ? .some(.forbidden) : statuses[.customer]
            default: return .some(.forbidden)
            }
        default: return statuses[caller]
        }
    }

    /// Routes for people only: keys are refused whatever their scopes.
    static let signedIn: [Caller: HTTPResponse.Status?] = [
        .anonymous: .unauthorized, .customer: nil, .anotherCustomer: nil, .staff: nil, .admin: nil,
        .keyWithoutScope: .forbidden, .keyWithScope: .forbidden,
    ]
    static let everyone: [Caller: HTTPResponse.Status?] = [
        .anonymous: nil, .customer: nil, .anotherCustomer: nil, .staff: nil, .admin: nil,
        .keyWithoutScope: nil, .keyWithScope: nil,
    ]
    /// Public routes whose answer depends on credentials in the body, not on who calls:
    /// wrong ones are 401 for every caller, a bearer token changes nothing.
    static let bodyCredentials: [Caller: HTTPResponse.Status?] = [
        .anonymous: .unauthorized, .customer: .unauthorized, .anotherCustomer: .unauthorized, .staff: .unauthorized,
        .admin: .unauthorized, .keyWithoutScope: .unauthorized, .keyWithScope: .unauthorized,
    ]
    /// Staff routes that API keys with the row's scope may call too.
    static let staffOrScope: [Caller: HTTPResponse.Status?] = [
        .anonymous: .unauthorized, .customer: .forbidden, .anotherCustomer: .forbidden, .staff: nil, .admin: nil,
        .keyWithoutScope: .forbidden, .keyWithScope: nil,
    ]
    /// Staff routes for people only: keys are refused whatever their scopes.
    static let staffOnly: [Caller: HTTPResponse.Status?] = [
        .anonymous: .unauthorized, .customer: .forbidden, .anotherCustomer: .forbidden, .staff: nil, .admin: nil,
        .keyWithoutScope: .forbidden, .keyWithScope: .forbidden,
    ]
    /// Routes on something of `.customer` (a cart, an order): everyone else finds nothing
    /// there; keys have no carts or orders of their own.
    static let customersOwn: [Caller: HTTPResponse.Status?] = [
        .anonymous: .notFound, .customer: nil, .anotherCustomer: .notFound, .staff: .notFound, .admin: .notFound,
        .keyWithoutScope: .forbidden, .keyWithScope: .forbidden,
    ]
    static let customersOwnSignedIn: [Caller: HTTPResponse.Status?] = customersOwn.merging([.anonymous: .unauthorized]) { $1 }
    /// Open to guests and people; API keys are refused.
    static let shoppers: [Caller: HTTPResponse.Status?] = [
        .anonymous: nil, .customer: nil, .anotherCustomer: nil, .staff: nil, .admin: nil,
        .keyWithoutScope: .forbidden, .keyWithScope: .forbidden,
    ]
    static let adminOnly: [Caller: HTTPResponse.Status?] = [
        .anonymous: .unauthorized, .customer: .forbidden, .anotherCustomer: .forbidden, .staff: .forbidden, .admin: nil,
        .keyWithoutScope: .forbidden, .keyWithScope: .forbidden,
    ]

    /// Back-office pages (`/admin`): a bearer token opens no session, so every caller is sent
    /// to the sign-in page.
    static let adminPage: [Caller: HTTPResponse.Status?] = [
        .anonymous: .seeOther, .customer: .seeOther, .anotherCustomer: .seeOther, .staff: .seeOther, .admin: .seeOther,
        .keyWithoutScope: .seeOther, .keyWithScope: .seeOther,
    ]
    /// An app token is no session either, whatever it was granted: sign in (the rule of
    /// `expected(_:for:)` would make a customer's grant a 403 on routes with a scope).
    static let adminPageApps: [Caller: HTTPResponse.Status?] = [.customerGranted: .seeOther]

    /// `{address}` is an address of `.customer`, `{customer}` their user id, `{key}` a fresh API
    /// key, `{product}`/`{variant}`/`{category}` fresh catalog rows, `{handle}` an active product,
    /// `{location}` a stock location. `{caller}` in a body is the caller's name (so that
    /// per-account lock-outs and unique handles of one caller do not spill into the next).
    static let expectations: [Expectation] = apiExpectations + backOfficeExpectations + [
        // Last: it ends the caller's tokens, so no row may come after it.
        .init(method: .post, path: "/v1/auth/logout-everywhere", body: nil, statuses: signedIn),
    ]

    @Test func everyRouteHasAnExpectation() async throws {
        try await withApp { app in
            // Parameters are compared by position only: `{product}` in the table, `:id` in the router.
            func shape(_ path: String) -> String { path.replacing(#/\{[a-z_]+\}|:[a-z_]+/#, with: "*") }
            let byRoute = Dictionary(uniqueKeysWithValues: Self.expectations.map { expectation in
                ("\(expectation.method.rawValue) \(shape(expectation.path))", expectation)
            })
            for route in app.routes.routes {
                let expectation = byRoute["\(route.method.rawValue) \(shape(route.path))"]
                #expect(expectation != nil, "no authorization expectation for \(route.method) \(route.path)")
                // The row's scope is the one the route declares, so the key columns test the declaration.
                #expect(expectation?.scope == route.access.scope, "\(route.method) \(route.path) declares \(String(describing: route.access.scope))")
            }
        }
    }

    @Test func everyCallerGetsWhatTheTableSays() async throws {
        try await withApp { app in
            var tokens: [Caller: String] = [:]
            tokens[.customer] = try await app.signIn("customer@example.com", as: .customer)
            tokens[.anotherCustomer] = try await app.signIn("other@example.com", as: .customer)
            tokens[.staff] = try await app.signIn("staff@example.com", as: .staff)
            tokens[.admin] = try await app.signIn("admin@example.com", as: .admin)
            let customerID = try #require(try await app.send(.get, "/v1/me", token: tokens[.customer]!).jsonObject()["id"] as? String)
            let admin = tokens[.admin]!
            try await app.createProduct(TestApp.product(handle: "matrix", sku: "MATRIX-1"), token: admin)
            let locationID = try #require(
                try await app.send(.post, "/v1/admin/inventory/locations", token: admin, json: #"{"code":"matrix","name":"M"}"#)
                    .jsonObject()["id"] as? String)
            // Something to sell, a customer's order and their open cart.
            try await app.receive(1000, of: "MATRIX-1", at: locationID, token: admin)
            let method = try await app.send(.post, "/v1/admin/shipping-methods", token: admin, json: #"{"name":"Standard","currency":"EUR","flat_amount":490}"#)
            let methodID = try #require(try method.jsonObject()["id"] as? String)
            let ordered = try await app.readyCart(
                CommerceFixture(admin: admin, sku: "MATRIX-1", variantID: "", location: locationID, shippingMethod: methodID),
                token: tokens[.customer]!)
            let orderID = try #require(try await app.checkout(ordered).jsonObject()["id"] as? String)
            let cart = try await app.newCart(token: tokens[.customer]!)
            var fresh = 0
            var keys: [Set<Scope>: String] = [:]
            func key(_ scopes: Set<Scope>) async throws -> String {
                if let secret = keys[scopes] { return secret }
                let secret = try await app.createAPIKey(scopes: scopes, adminToken: tokens[.admin]!)
                keys[scopes] = secret
                return secret
            }

            // Apps with every scope, for a staff member, a customer, and for themselves.
            let client = try await app.registerOAuthApp(
                admin: admin, name: "Matrix", scopes: Scope.allCases, grantTypes: ["authorization_code", "client_credentials"])
            var appTokens: [String: String] = [:]
            func appToken(_ caller: Caller, _ scopes: Set<Scope>) async throws -> String {
                let scope = scopes.sorted().map(\.rawValue).joined(separator: " ")
                if let token = appTokens["\(caller) \(scope)"] { return token }
                let token: String
                switch caller {
                case .appWithScope, .appWithoutScope: token = try await app.clientCredentialsToken(client, scope: scope)
                case .customerGranted: token = try await app.appTokens(client, email: "customer@example.com", scope: scope).access
                default: token = try await app.appTokens(client, email: "staff@example.com", scope: scope).access
                }
                appTokens["\(caller) \(scope)"] = token
                return token
            }

            for expectation in Self.expectations {
                for caller in Caller.allCases {
                    var uri = expectation.path
                    if uri.contains("{address}") {
                        // A fresh address of the customer for each call, since DELETE consumes it.
                        let created = try await app.send(
                            .post, "/v1/me/addresses", token: tokens[.customer]!,
                            json: #"{"recipient":"A","line1":"1 Road","city":"X","country":"DE"}"#)
                        let addressID = try #require(try created.jsonObject()["id"] as? String)
                        uri = uri.replacingOccurrences(of: "{address}", with: addressID)
                    }
                    if uri.contains("{key}") {
                        let secret = try await app.createAPIKey(scopes: [.catalogRead], adminToken: tokens[.admin]!)
                        let listed = try await app.send(.get, "/v1/admin/api-keys?limit=100", token: tokens[.admin]!).jsonObject()
                        let keyID = try #require((listed["data"] as? [[String: Any]])?.first { secret.hasPrefix($0["prefix"] as! String) }?["id"] as? String)
                        uri = uri.replacingOccurrences(of: "{key}", with: keyID)
                    }
                    // An unknown job: callers who may retry jobs get 404, the rest are refused first.
                    uri = uri.replacingOccurrences(of: "{job}", with: "0193a1b2-0000-7000-8000-000000000000")
                    uri = uri.replacingOccurrences(of: "{app}", with: "0193a1b2-0000-7000-8000-000000000003")
                    // Likewise an unknown webhook endpoint and delivery.
                    uri = uri.replacingOccurrences(of: "{webhook}", with: "0193a1b2-0000-7000-8000-000000000001")
                        .replacingOccurrences(of: "{delivery}", with: "0193a1b2-0000-7000-8000-000000000002")
                    uri = uri.replacingOccurrences(of: "{customer}", with: customerID).replacingOccurrences(of: "{handle}", with: "matrix")
                    if uri.contains("{product}") {
                        // A fresh product with one variant for each call, since DELETE consumes it.
                        fresh += 1
                        let product = try await app.createProduct(TestApp.product(handle: "fresh-\(fresh)"), token: admin)
                        let variant = try #require((product["variants"] as? [[String: Any]])?.first?["id"] as? String)
                        uri = uri.replacingOccurrences(of: "{product}", with: product["id"] as! String)
                            .replacingOccurrences(of: "{variant}", with: variant)
                    }
                    if uri.contains("{category}") {
                        fresh += 1
                        let category = try await app.send(.post, "/v1/admin/categories", token: admin, json: #"{"slug":"fresh-\#(fresh)","name":"F"}"#)
                        uri = uri.replacingOccurrences(of: "{category}", with: try category.jsonObject()["id"] as! String)
                    }
                    uri = uri.replacingOccurrences(of: "{cart}", with: cart.id).replacingOccurrences(of: "{order}", with: orderID)
                    var bodyValues = ["{location}": locationID, "{shipping_method}": methodID]
                    if uri.contains("{item}") {
                        // The line comes back for each call, since DELETE consumes it.
                        let added = try await app.cart(cart, .post, "/items", json: #"{"sku":"MATRIX-1","quantity":1}"#)
                        let itemID = try #require((try added.jsonObject()["items"] as? [[String: Any]])?.first?["id"] as? String)
                        uri = uri.replacingOccurrences(of: "{item}", with: itemID)
                    }
                    if uri.contains("{shipping_method}") {
                        let created = try await app.send(.post, "/v1/admin/shipping-methods", token: admin, json: #"{"name":"Fresh","currency":"EUR","flat_amount":1}"#)
                        uri = uri.replacingOccurrences(of: "{shipping_method}", with: try created.jsonObject()["id"] as! String)
                    }
                    if uri.contains("{tax_rate}") {
                        fresh += 1
                        let created = try await app.send(.post, "/v1/admin/tax-rates", token: admin, json: #"{"country":"AT","region":"R\#(fresh)","name":"R","rate_ppm":1}"#)
                        uri = uri.replacingOccurrences(of: "{tax_rate}", with: try created.jsonObject()["id"] as! String)
                        bodyValues["{tax_region}"] = "R\(fresh)"
                    }
                    if uri.contains("{discount}") {
                        fresh += 1
                        let created = try await app.send(.post, "/v1/admin/discounts", token: admin, json: #"{"code":"FRESH-\#(fresh)","kind":"percentage","percentage_ppm":1}"#)
                        uri = uri.replacingOccurrences(of: "{discount}", with: try created.jsonObject()["id"] as! String)
                        bodyValues["{discount_code}"] = "FRESH-\(fresh)"
                    }
                    var token = tokens[caller]
                    let all = Set(Scope.allCases)
                    switch caller {
                    case .keyWithScope: token = try await key(expectation.scope.map { [$0] } ?? all)
                    case .keyWithoutScope: token = try await key(all.subtracting(expectation.scope.map { [$0] } ?? []))
                    case .appWithScope, .staffGrantedWithScope: token = try await appToken(caller, expectation.scope.map { [$0] } ?? all)
                    case .appWithoutScope, .staffGrantedWithoutScope:
                        token = try await appToken(caller, all.subtracting(expectation.scope.map { [$0] } ?? []))
                    case .customerGranted: token = try await appToken(caller, [.ordersRead])
                    default: break
                    }
                    var headers = HTTPFields()
                    if let token { headers[.authorization] = "Bearer \(token)" }
                    if expectation.body != nil { headers[.contentType] = "application/json" }
                    let response = try await app.http.execute(
                        uri: uri, method: expectation.method, headers: headers,
                        body: expectation.body.map { body in
                            let filled = bodyValues.reduce(body.replacingOccurrences(of: "{caller}", with: "\(caller)".lowercased())) {
                                $0.replacingOccurrences(of: $1.key, with: $1.value)
                            }
                            return ByteBuffer(string: filled)
                        })
                    let label = "\(expectation.method) \(expectation.path) as \(caller)"
                    if let expected = Self.expected(expectation, for: caller) ?? nil {
                        #expect(response.status == expected, "\(label): \(response.status) \(response.text)")
                    } else {
                        #expect(![.unauthorized, .forbidden].contains(response.status), "\(label): \(response.status)")
                        #expect(response.status.code < 500, "\(label): \(response.status)")
                    }
                }
            }
        }
    }
}

extension TestApp {
    /// Creates an API key through the admin API and returns its secret.
    func createAPIKey(scopes: Set<Scope>, name: String = "Integration", adminToken: String) async throws -> String {
        let body = try String(decoding: JSONSerialization.data(withJSONObject: ["name": name, "scopes": scopes.map(\.rawValue)]), as: UTF8.self)
        let response = try await send(.post, "/v1/admin/api-keys", token: adminToken, json: body)
        guard response.status == .created, let secret = try response.jsonObject()["secret"] as? String else {
            throw TestFailure("creating an API key answered \(response.status): \(response.text)")
        }
        return secret
    }
}

@Suite struct AdminAccountTests {
    @Test func staffListCustomersPageByPage() async throws {
        try await withApp { app in
            for index in 0..<5 { _ = try await app.register("c\(index)@example.com") }
            let staff = try await app.signIn("staff@example.com", as: .staff)
            let first = try await app.send(.get, "/v1/admin/customers?limit=3", token: staff)
            #expect(first.status == .ok)
            let firstPage = try first.jsonObject()
            let firstData = try #require(firstPage["data"] as? [[String: Any]])
            #expect(firstData.map { $0["email"] as? String } == ["c0@example.com", "c1@example.com", "c2@example.com"])
            let cursor = try #require(firstPage["next_cursor"] as? String)
            let second = try await app.send(.get, "/v1/admin/customers?limit=3&cursor=\(cursor)", token: staff).jsonObject()
            let secondData = try #require(second["data"] as? [[String: Any]])
            #expect(secondData.map { $0["email"] as? String } == ["c3@example.com", "c4@example.com"])
            #expect(second["next_cursor"] is NSNull)
            #expect(!(firstData + secondData).contains { $0["email"] as? String == "staff@example.com" })
            let one = try await app.send(.get, "/v1/admin/customers?email=C3@Example.com", token: staff).jsonObject()
            #expect((one["data"] as? [[String: Any]])?.count == 1)
        }
    }

    @Test(arguments: ["limit=0", "limit=101", "limit=ten", "cursor=forged", "cursor=" + String(repeating: "A", count: 200)])
    func badPagingIs400(query: String) async throws {
        try await withApp { app in
            let staff = try await app.signIn("staff@example.com", as: .staff)
            let response = try await app.send(.get, "/v1/admin/customers?\(query)", token: staff)
            #expect(response.status == .badRequest)
            #expect(try app.problemType(response) == "urn:emporium:problem:validation")
        }
    }

    @Test func adminsReadTheAuditLogNewestFirstWithFilters() async throws {
        try await withApp { app in
            _ = try await app.register("ada@example.com")
            _ = try await app.post("/v1/auth/login", json: #"{"email":"ada@example.com","password":"wrong password!"}"#)
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let all = try await app.send(.get, "/v1/admin/audit-log", token: admin).jsonObject()
            let actions = (all["data"] as? [[String: Any]])?.compactMap { $0["action"] as? String } ?? []
            #expect(actions.first == "user.registered")  // the admin's own sign-up is the newest
            #expect(actions.contains("login.failed"))
            let failed = try await app.send(.get, "/v1/admin/audit-log?action=login.failed", token: admin).jsonObject()
            let entries = try #require(failed["data"] as? [[String: Any]])
            #expect(entries.count == 1 && entries[0]["target"] as? String == "ada@example.com")
            #expect(entries[0]["request_id"] is String && entries[0]["client_address"] is String)
            let future = try await app.send(.get, "/v1/admin/audit-log?from=2100-01-01T00:00:00Z", token: admin).jsonObject()
            #expect((future["data"] as? [Any])?.isEmpty == true)
            let bad = try await app.send(.get, "/v1/admin/audit-log?from=yesterday&actor=nobody", token: admin)
            #expect(bad.status == .badRequest)
            #expect((try bad.jsonObject()["errors"] as? [Any])?.count == 2)
        }
    }

    @Test func createAdminMakesAnAdministratorFromTheCommandLine() async throws {
        try await TestDatabase.withFresh { url in
            let configuration = TestDatabase.configuration(for: url)
            try await withDatabase(configuration, logger: .init(label: "test")) { database in
                _ = try await migrate(database, logger: .init(label: "test"))
                _ = try await AdminBootstrap.createAdmin(
                    email: "Root@Example.com", name: "Root", password: "a long admin passphrase", configuration: configuration,
                    database: database)
                let row = try #require(try await database.queryFirst("SELECT role, email FROM users"))
                #expect(try row.decode("role", as: String.self) == "admin")
                #expect(try row.decode("email", as: String.self) == "root@example.com")
                await #expect(throws: AdminBootstrap.Failure.self) {
                    try await AdminBootstrap.createAdmin(
                        email: "root@example.com", name: "Root", password: "a long admin passphrase",
                        configuration: configuration, database: database)
                }
                await #expect(throws: AdminBootstrap.Failure.self) {
                    try await AdminBootstrap.createAdmin(
                        email: "short@example.com", name: "Root", password: "short", configuration: configuration,
                        database: database)
                }
            }
        }
    }
}
