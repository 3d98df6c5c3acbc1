import Emporium
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite struct CORSTests {
    let shop = "https://shop.example.com"

    func preflight(_ path: String, origin: String) -> HTTPFields {
        [.origin: origin, .accessControlRequestMethod: "GET"]
    }

    @Test func allowedOriginsMayReadResponsesErrorsIncluded() async throws {
        try await withApp(configure: { $0.corsOrigins = [shop] }) { app in
            for uri in ["/health/live", "/no/such/path"] {
                let response = try await app.http.execute(uri: uri, method: .get, headers: [.origin: shop])
                #expect(response.headers[.accessControlAllowOrigin] == shop)
                #expect(response.headers[.accessControlExposeHeaders]?.contains("X-Request-ID") == true)
                #expect(response.headers[values: .vary].contains("Origin"))
                #expect(response.headers[.accessControlAllowCredentials] == nil)
            }
        }
    }

    @Test func otherOriginsGetNoPermission() async throws {
        try await withApp(configure: { $0.corsOrigins = [shop] }) { app in
            let response = try await app.http.execute(uri: "/health/live", method: .get, headers: [.origin: "https://evil.example"])
            #expect(response.status == .ok)
            #expect(response.headers[.accessControlAllowOrigin] == nil)
            let preflight = try await app.http.execute(
                uri: "/health/live", method: .options, headers: preflight("/health/live", origin: "https://evil.example"))
            #expect(preflight.headers[.accessControlAllowOrigin] == nil)
        }
    }

    @Test func preflightListsTheMethodsOfThePath() async throws {
        try await withApp(configure: { $0.corsOrigins = [shop] }) { app in
            let response = try await app.http.execute(
                uri: "/health/live", method: .options, headers: preflight("/health/live", origin: shop))
            #expect(response.status == .noContent)
            #expect(response.headers[.accessControlAllowOrigin] == shop)
            #expect(response.headers[.accessControlAllowMethods] == "GET, HEAD")
            #expect(response.headers[.accessControlAllowHeaders]?.contains("Authorization") == true)
            #expect(response.headers[.accessControlAllowHeaders]?.contains("Idempotency-Key") == true)
            #expect(response.headers[.accessControlMaxAge] == "600")

            let unknown = try await app.http.execute(
                uri: "/nowhere", method: .options, headers: preflight("/nowhere", origin: shop))
            #expect(unknown.status == .notFound)
            #expect(unknown.headers[.contentType] == "application/problem+json")
        }
    }

    @Test func anyOriginWhenConfiguredWithAStar() async throws {
        try await withApp(configure: { $0.corsOrigins = ["*"] }) { app in
            let response = try await app.http.execute(uri: "/health/live", method: .get, headers: [.origin: "https://anyone.example"])
            #expect(response.headers[.accessControlAllowOrigin] == "*")
        }
    }

    @Test func offByDefault() async throws {
        try await withApp { app in
            let response = try await app.http.execute(uri: "/health/live", method: .get, headers: [.origin: shop])
            #expect(response.headers[.accessControlAllowOrigin] == nil)
            let preflight = try await app.http.execute(
                uri: "/health/live", method: .options, headers: preflight("/health/live", origin: shop))
            #expect(preflight.status == .methodNotAllowed)
            #expect(preflight.headers[.accessControlAllowOrigin] == nil)
        }
    }
}
