import Emporium
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// The checker every test's responses go through (`ValidatingTestClient`) finds what it must:
/// a conforming answer passes, and each kind of disagreement with the document is named.
@Suite struct ResponseValidatorTests {
    let validator: ResponseValidator

    init() throws {
        validator = try ResponseValidator.shared.get()
    }

    let requestID: HTTPFields = [HTTPField.Name("X-Request-ID")!: "r1", .contentType: "application/json"]

    func failures(
        _ method: HTTPRequest.Method, _ uri: String, _ status: HTTPResponse.Status, _ body: String,
        headers: HTTPFields? = nil
    ) -> [String] {
        validator.failures(
            method: method, uri: uri, status: status, headers: headers ?? requestID, body: Data(body.utf8))
    }

    static let cart = #"""
        {"id": "c1", "status": "open", "currency": "EUR", "email": null, "shipping_address": null,
         "shipping_method": null, "discount_code": null, "discount_problem": null, "items": [],
         "totals": {"subtotal": 0, "discount": 0, "shipping": 0, "tax": 0, "total": 0, "tax_included": true},
         "version": 1, "created_at": "2026-11-30T12:00:00Z", "updated_at": "2026-11-30T12:00:00.123Z"}
        """#

    @Test func aConformingAnswerPasses() {
        #expect(failures(.get, "/v1/carts/c1?x=1", .ok, Self.cart) == [])
        let address = #"{"recipient": "A", "line1": "B", "city": "C", "country": "DE", "region": null}"#
        let shipped = Self.cart
            .replacingOccurrences(of: #""shipping_address": null"#, with: #""shipping_address": \#(address)"#)
            .replacingOccurrences(of: #""shipping_method": null"#, with: #""shipping_method": {"id": "m", "name": "M", "amount": 490}"#)
        #expect(failures(.get, "/v1/carts/c1", .ok, shipped) == [])
    }

    @Test func aNullWhereTheSchemaHasNoneIsNamed() {
        let found = failures(.get, "/v1/carts/c1", .ok, Self.cart.replacingOccurrences(of: #""status": "open""#, with: #""status": null"#))
        #expect(found.contains { $0.hasPrefix("/status: null is not of type string") }, "\(found)")
    }

    @Test func wrongTypesMissingMembersEnumsAndDatesAreNamed() {
        let broken = Self.cart
            .replacingOccurrences(of: #""version": 1"#, with: #""version": 1.5"#)
            .replacingOccurrences(of: #""id": "c1", "#, with: "")
            .replacingOccurrences(of: #""status": "open""#, with: #""status": "lost""#)
            .replacingOccurrences(of: #""created_at": "2026-11-30T12:00:00Z""#, with: #""created_at": "yesterday""#)
        let found = failures(.get, "/v1/carts/c1", .ok, broken)
        #expect(found.contains { $0.hasPrefix("/version: 1.5 is not of type integer") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("/id: is required") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("/status: \"lost\" is not one of") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("/created_at: \"yesterday\" is not an RFC 3339 date-time") }, "\(found)")
    }

    @Test func anUndocumentedStatusIsNamed() {
        let found = failures(.get, "/v1/carts/c1", .accepted, Self.cart)
        #expect(found.contains { $0.hasPrefix("202 is not documented for GET /v1/carts/{id}") }, "\(found)")
        // `default` answers problems only: a success must be listed.
        #expect(failures(.get, "/v1/carts/c1", .notFound, Self.problem(404), headers: Self.problemHeaders).isEmpty)
    }

    @Test func aMissingRequiredHeaderIsNamed() {
        let found = failures(.get, "/v1/carts/c1", .notFound, Self.problem(404), headers: [.contentType: "application/problem+json"])
        #expect(found == ["required header X-Request-ID is missing"])
    }

    @Test func problemDocumentsMatchTheProblemSchemaEverywhere() {
        let bad = #"{"type": "urn:emporium:problem:not-found", "title": 7, "status": 500}"#
        for uri in ["/v1/carts/c1", "/nowhere"] {
            let found = failures(.get, uri, .notFound, bad, headers: Self.problemHeaders)
            #expect(found.contains("problem document /title: 7 is not of type string"), "\(found)")
            #expect(found.contains("problem document /request_id: is required"), "\(found)")
            #expect(found.contains("problem document status 500.0 is not the response's 404"), "\(found)")
        }
        let exempt = validator.failures(
            method: .post, uri: "/test/echo", status: .badRequest, headers: Self.problemHeaders, body: Data(bad.utf8),
            exempt: true)
        #expect(exempt.contains("problem document /title: 7 is not of type string"), "\(exempt)")
        #expect(validator.failures(method: .post, uri: "/test/echo", status: .ok, headers: requestID, body: Data("{}".utf8), exempt: true).isEmpty)
    }

    @Test func undocumentedOperationsAndContentTypesAreNamed() {
        #expect(failures(.get, "/v1/nowhere", .ok, "{}") == ["GET /v1/nowhere is not a documented operation, yet answered 200"])
        let text: HTTPFields = [HTTPField.Name("X-Request-ID")!: "r1", .contentType: "text/html"]
        let found = failures(.get, "/v1/carts/c1", .ok, "<html>", headers: text)
        #expect(found.contains { $0.hasPrefix("Content-Type text/html is not documented for 200") }, "\(found)")
    }

    @Test func literalSegmentsWinOverParameters() {
        let operation = validator.operation(method: .get, path: "/v1/products/mug")
        #expect(operation?.template == "/v1/products/{id_or_handle}")
        #expect(validator.operation(method: .get, path: "/v1/products/") == nil)
    }

    /// The wiring: a test's own client records an undocumented answer as a failure, and leaves
    /// the routes a test adds under `customRoutePrefix` alone.
    @Test func everyTestClientChecksWhatItReceives() async throws {
        let routes: @Sendable (RouteRegistrar) -> Void = { routes in
            routes.get("/undocumented") { _, _ -> String in "{}" }
            routes.get(customRoutePrefix + "undocumented") { _, _ -> String in "{}" }
        }
        try await withApp(customRoutes: routes) { app in
            await withKnownIssue {
                _ = try? await app.http.execute(uri: "/undocumented", method: .get)
            } matching: { issue in
                issue.comments.contains { $0.rawValue.contains("GET /undocumented is not a documented operation") }
            }
            let exempt = try await app.http.execute(uri: customRoutePrefix + "undocumented", method: .get)
            #expect(exempt.status == .ok)
        }
    }

    static let problemHeaders: HTTPFields = [HTTPField.Name("X-Request-ID")!: "r1", .contentType: "application/problem+json"]

    static func problem(_ status: Int) -> String {
        #"{"type": "urn:emporium:problem:not-found", "title": "Not found", "status": \#(status), "request_id": "r1"}"#
    }
}
