import Emporium
import EmporiumClient
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@Suite struct PlatformTests {
    @Test func livenessAnswersThroughTheGeneratedClient() async throws {
        try await withApp { app in
            let response = try await app.api.getHealthLive()
            #expect(try response.ok.body.json.status == .ok)
        }
    }

    @Test func readinessNamesTheDatabaseEngine() async throws {
        try await withApp { app in
            let body = try await app.api.getHealthReady().ok.body.json
            #expect(body.status == .ok)
            #expect(body.database.rawValue == TestDatabase.dialect.rawValue)
        }
    }

    @Test func readinessIs503WhenTheDatabaseDoesNotAnswer() async throws {
        try await withApp { app in
            await app.database.close()
            let response = try await app.http.execute(uri: "/health/ready", method: .get)
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.contentType] == "application/problem+json")
            let problem = try response.jsonObject()
            #expect(problem["type"] as? String == "urn:emporium:problem:unavailable")
            #expect(problem["status"] as? Int == 503)
            // Liveness does not depend on the database.
            #expect(try await app.http.execute(uri: "/health/live", method: .get).status == .ok)
        }
    }

    @Test func everyResponseCarriesTheSecurityHeadersAndNoBanner() async throws {
        try await withApp { app in
            for uri in ["/health/live", "/no/such/path"] {
                let response = try await app.http.execute(uri: uri, method: .get)
                #expect(response.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
                #expect(response.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer")
                #expect(response.headers[.cacheControl] == "no-store")
                #expect(response.headers[.server] == nil)
                #expect(response.headers[HTTPField.Name("X-Request-ID")!] != nil)
            }
        }
    }

    @Test func headIsAnsweredForEveryGet() async throws {
        try await withApp { app in
            let response = try await app.http.execute(uri: "/health/live", method: .head)
            #expect(response.status == .ok)
            #expect(response.body.readableBytes == 0)
        }
    }

    @Test func openAPIDocumentIsServedAsJSONWithAValidator() async throws {
        try await withApp { app in
            let response = try await app.http.execute(uri: "/openapi.json", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            let document = try response.jsonObject()
            #expect(document["openapi"] as? String == "3.1.0")
            #expect((document["paths"] as? [String: Any])?["/health/live"] != nil)
            let etag = try #require(response.headers[.eTag])
            #expect(etag.hasPrefix("\"") && etag.hasSuffix("\""))
            #expect(response.headers[.cacheControl]?.hasPrefix("public") == true)

            let cached = try await app.http.execute(uri: "/openapi.json", method: .get, headers: [.ifNoneMatch: etag])
            #expect(cached.status == .notModified)
            #expect(cached.body.readableBytes == 0)
            let stale = try await app.http.execute(uri: "/openapi.json", method: .get, headers: [.ifNoneMatch: "\"other\""])
            #expect(stale.status == .ok)
        }
    }

    @Test func metricsCountRequestsByRouteTemplateAndStatus() async throws {
        try await withApp { app in
            _ = try await app.http.execute(uri: "/health/live", method: .get)
            _ = try await app.http.execute(uri: "/health/live", method: .get)
            _ = try await app.http.execute(uri: "/missing/12345", method: .get)
            let response = try await app.http.execute(uri: "/metrics", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
            let lines = response.text.split(separator: "\n").map(String.init)
            let liveCount = lines.first { $0.hasPrefix("emporium_http_requests_total{") && $0.contains(#"route="/health/live""#) && $0.contains(#"status="200""#) }
            #expect(liveCount?.hasSuffix(" 2") == true, "\(lines.filter { $0.contains("requests_total") })")
            // Unknown paths share one series instead of making one per path.
            #expect(lines.contains { $0.contains(#"route="unmatched""#) && $0.contains(#"status="404""#) })
            #expect(!response.text.contains("12345"))
            #expect(lines.contains { $0.hasPrefix("emporium_http_request_duration_seconds_bucket{") })
            #expect(lines.contains { $0.hasPrefix("emporium_http_requests_in_flight") })
            #expect(lines.contains { $0.hasPrefix("emporium_db_connections_max ") })
            #expect(lines.contains { $0.hasPrefix("emporium_db_connections_in_use ") })
            #expect(lines.contains { $0.hasPrefix("emporium_db_waiting ") })
        }
    }
}

@Suite struct RequestIDTests {
    let requestID = HTTPField.Name("X-Request-ID")!

    @Test func aWellFormedIncomingIDIsKeptAndLoggedOnEveryLine() async throws {
        try await withApp { app in
            let id = "checkout-7f3a:retry.2_A"
            let response = try await app.http.execute(uri: "/health/live", method: .get, headers: [requestID: id])
            #expect(response.headers[requestID] == id)
            let lines = app.logs.lines.filter { $0.contains("path=/health/live") }
            #expect(!lines.isEmpty)
            #expect(lines.allSatisfy { $0.contains("request_id=\(id)") })
        }
    }

    @Test(arguments: ["", "has space", String(repeating: "a", count: 129), "new\nline", "quote\"", "ünïcode", "a/b"])
    func anythingElseIsReplaced(incoming: String) async throws {
        try await withApp { app in
            var headers = HTTPFields()
            if let field = HTTPField(name: requestID, value: incoming) as HTTPField? { headers.append(field) }
            let response = try await app.http.execute(uri: "/health/live", method: .get, headers: headers)
            let id = try #require(response.headers[requestID])
            #expect(id != incoming)
            #expect(id.count == 32 && id.allSatisfy(\.isHexDigit))
        }
    }

    @Test func eachRequestGetsItsOwnID() async throws {
        try await withApp { app in
            var ids = Set<String>()
            for _ in 0..<20 {
                ids.insert(try await app.http.execute(uri: "/health/live", method: .get).headers[requestID] ?? "")
            }
            #expect(ids.count == 20)
        }
    }
}
