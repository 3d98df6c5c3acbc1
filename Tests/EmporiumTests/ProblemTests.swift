import Emporium
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// A route that reads JSON, for the request-body rules every endpoint shares.
private struct EchoInput: Decodable, ResponseEncodable, Encodable {
    struct Line: Codable {
        let sku: String
        let quantity: Int
    }

    let name: String
    let quantity: Int
    let lines: [Line]
}

private struct SecretFailure: Error, CustomStringConvertible {
    var description: String { "boom at /srv/emporium/Sources/Secret.swift: SELECT * FROM users" }
}

private let echoRoutes: @Sendable (RouteRegistrar) -> Void = { routes in
    routes.post("/test/echo") { request, context in
        try await request.decodeJSON(as: EchoInput.self, context: context)
    }
    routes.get("/test/fail") { _, _ -> String in
        throw SecretFailure()
    }
}

@Suite struct ProblemTests {
    let json: HTTPFields = [.contentType: "application/json"]

    func expectProblem(
        _ response: TestResponse, status: HTTPResponse.Status, slug: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> [String: Any] {
        #expect(response.status == status, sourceLocation: sourceLocation)
        #expect(response.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
        let problem = try response.jsonObject()
        #expect(problem["type"] as? String == "urn:emporium:problem:\(slug)", sourceLocation: sourceLocation)
        #expect(problem["status"] as? Int == Int(status.code), sourceLocation: sourceLocation)
        #expect((problem["title"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
        #expect(problem["request_id"] as? String == response.headers[HTTPField.Name("X-Request-ID")!], sourceLocation: sourceLocation)
        return problem
    }

    @Test func unknownPathIs404() async throws {
        try await withApp { app in
            let response = try await app.http.execute(uri: "/v1/nothing-here", method: .get)
            let problem = try expectProblem(response, status: .notFound, slug: "not-found")
            #expect(problem["instance"] as? String == "/v1/nothing-here")
        }
    }

    @Test func wrongMethodIs405WithAllow() async throws {
        try await withApp { app in
            let response = try await app.http.execute(uri: "/health/live", method: .delete)
            _ = try expectProblem(response, status: .methodNotAllowed, slug: "method-not-allowed")
            #expect(response.headers[.allow] == "GET, HEAD")
        }
    }

    @Test func wellFormedBodyIsAccepted() async throws {
        try await withApp(customRoutes: echoRoutes) { app in
            let body = #"{"name":"Mug","quantity":2,"lines":[{"sku":"MUG-1","quantity":1}]}"#
            let response = try await app.http.execute(uri: "/test/echo", method: .post, headers: json, body: ByteBuffer(json: body))
            #expect(response.status == .ok)
            #expect(try response.jsonObject()["name"] as? String == "Mug")
        }
    }

    @Test(arguments: [
        #"{"name": "Mug", "quantity": 2,"#, "not json at all", "{\"name\": \"\u{7}\"", "[1, 2", "\u{FF}\u{FE}",
    ])
    func malformedJSONIs400(body: String) async throws {
        try await withApp(customRoutes: echoRoutes) { app in
            let response = try await app.http.execute(uri: "/test/echo", method: .post, headers: json, body: ByteBuffer(json: body))
            _ = try expectProblem(response, status: .badRequest, slug: "malformed-json")
        }
    }

    @Test func emptyBodyIs400() async throws {
        try await withApp(customRoutes: echoRoutes) { app in
            let response = try await app.http.execute(uri: "/test/echo", method: .post, headers: json)
            _ = try expectProblem(response, status: .badRequest, slug: "malformed-json")
        }
    }

    @Test(arguments: [
        (#"{"quantity": 1, "lines": []}"#, "/name", "is required"),
        (#"{"name": "Mug", "quantity": "two", "lines": []}"#, "/quantity", "must be an integer"),
        (#"{"name": 7, "quantity": 1, "lines": []}"#, "/name", "must be a string"),
        (#"{"name": null, "quantity": 1, "lines": []}"#, "/name", "must not be null"),
        (#"{"name": "Mug", "quantity": 1, "lines": {}}"#, "/lines", "must be an array"),
        (#"{"name": "Mug", "quantity": 1, "lines": [{"sku": "A", "quantity": 1}, {"sku": "B"}]}"#, "/lines/1/quantity", "is required"),
        // Foundation's decoder does not say where a number that does not fit is; it is found.
        (#"{"name": "Mug", "quantity": 1.5, "lines": []}"#, "/quantity", "must be a whole number"),
        (#"{"name": "Mug", "quantity": 99999999999999999999999, "lines": []}"#, "/quantity", "is out of range"),
    ])
    func wrongShapesAre400WithAPointer(body: String, pointer: String, detail: String) async throws {
        try await withApp(customRoutes: echoRoutes) { app in
            let response = try await app.http.execute(uri: "/test/echo", method: .post, headers: json, body: ByteBuffer(json: body))
            let problem = try expectProblem(response, status: .badRequest, slug: "validation")
            let errors = try #require(problem["errors"] as? [[String: Any]])
            #expect(errors.first?["pointer"] as? String == pointer)
            if !detail.isEmpty { #expect(errors.first?["detail"] as? String == detail) }
        }
    }

    @Test(arguments: [nil, "text/plain", "application/x-www-form-urlencoded", "application/jsonp"] as [String?])
    func otherContentTypesAre415(contentType: String?) async throws {
        try await withApp(customRoutes: echoRoutes) { app in
            var headers = HTTPFields()
            if let contentType { headers[.contentType] = contentType }
            let response = try await app.http.execute(
                uri: "/test/echo", method: .post, headers: headers, body: ByteBuffer(json: #"{"name":"a"}"#))
            _ = try expectProblem(response, status: .unsupportedMediaType, slug: "unsupported-media-type")
        }
    }

    @Test func jsonWithParametersAndVendorTypesIsAccepted() async throws {
        try await withApp(customRoutes: echoRoutes) { app in
            for contentType in ["application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"] {
                let response = try await app.http.execute(
                    uri: "/test/echo", method: .post, headers: [.contentType: contentType],
                    body: ByteBuffer(json: #"{"name":"Mug","quantity":1,"lines":[]}"#))
                #expect(response.status == .ok, "\(contentType)")
            }
        }
    }

    @Test func bodiesOverTheLimitAre413() async throws {
        try await withApp(configure: { $0.maxBodyBytes = 1024 }, customRoutes: echoRoutes) { app in
            let big = #"{"name":""# + String(repeating: "x", count: 4096) + #"","quantity":1,"lines":[]}"#
            let response = try await app.http.execute(uri: "/test/echo", method: .post, headers: json, body: ByteBuffer(json: big))
            let problem = try expectProblem(response, status: .contentTooLarge, slug: "payload-too-large")
            #expect((problem["detail"] as? String)?.contains("1024") == true)
            // Just under the limit still works.
            let fits = #"{"name":""# + String(repeating: "x", count: 900) + #"","quantity":1,"lines":[]}"#
            #expect(try await app.http.execute(uri: "/test/echo", method: .post, headers: json, body: ByteBuffer(json: fits)).status == .ok)
        }
    }

    @Test func defaultLimitIsOneMebibyte() async throws {
        try await withApp(customRoutes: echoRoutes) { app in
            let big = ByteBuffer(repeating: UInt8(ascii: " "), count: (1 << 20) + 1)
            let response = try await app.http.execute(uri: "/test/echo", method: .post, headers: json, body: big)
            _ = try expectProblem(response, status: .contentTooLarge, slug: "payload-too-large")
        }
    }

    @Test func unexpectedErrorsAre500WithoutDetailButAreLogged() async throws {
        try await withApp(customRoutes: echoRoutes) { app in
            let response = try await app.http.execute(uri: "/test/fail", method: .get)
            let problem = try expectProblem(response, status: .internalServerError, slug: "internal")
            let id = try #require(problem["request_id"] as? String)
            for leak in ["boom", "Secret.swift", "/srv", "SELECT", "users"] {
                #expect(!response.text.contains(leak))
            }
            #expect(app.logs.lines.contains { $0.contains("boom at") && $0.contains("request_id=\(id)") })
        }
    }

    @Test func clientsOverTheirRateGet429WithRetryAfter() async throws {
        try await withApp(configure: { $0.rateLimit = .init(requestsPerSecond: 0.001, burst: 3) }) { app in
            // A token back every 1,000 s, so that however slowly a busy machine sends five
            // requests, none of them earns one back in between.
            var statuses: [HTTPResponse.Status] = []
            var last: TestResponse?
            for _ in 0..<5 {
                let response = try await app.http.execute(uri: "/health/live", method: .get)
                statuses.append(response.status)
                last = response
            }
            #expect(statuses.prefix(3).allSatisfy { $0 == .ok })
            #expect(statuses.suffix(2).allSatisfy { $0 == .tooManyRequests })
            let limited = try #require(last)
            _ = try expectProblem(limited, status: .tooManyRequests, slug: "rate-limited")
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 >= 1)
        }
    }
}
