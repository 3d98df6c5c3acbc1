import Emporium
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// A route that reads JSON of a fixed shape, for the decoding rules every endpoint shares.
private struct ShapeInput: Decodable, ResponseEncodable, Encodable {
    struct Line: Codable {
        let sku: String
        let quantity: Int64
    }

    struct Contact: Codable {
        let email: String
        let phone: String
    }

    let name: String
    let quantity: Int64
    let gift: Bool?
    let contact: Contact?
    let lines: [Line]
}

private let shapeRoutes: @Sendable (RouteRegistrar) -> Void = { routes in
    routes.post("/test/shape") { request, context in
        try await request.decodeJSON(as: ShapeInput.self, context: context)
    }
}

/// Every fault of a body in one answer: wrong types, missing and null members, numbers that
/// do not fit, unknown members and the endpoint's own rules.
@Suite struct FieldErrorTests {
    /// The `errors` of a 400 validation problem as pointer → detail.
    func fieldErrors(_ response: TestResponse, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: String] {
        #expect(response.status == .badRequest, "\(response.text)", sourceLocation: sourceLocation)
        let problem = try response.jsonObject()
        #expect(problem["type"] as? String == "urn:emporium:problem:validation", sourceLocation: sourceLocation)
        #expect(problem["request_id"] as? String == response.headers[HTTPField.Name("X-Request-ID")!], sourceLocation: sourceLocation)
        let errors = try #require(problem["errors"] as? [[String: Any]], sourceLocation: sourceLocation)
        var byPointer: [String: String] = [:]
        for error in errors {
            let pointer = try #require(error["pointer"] as? String, sourceLocation: sourceLocation)
            #expect(byPointer[pointer] == nil, "\(pointer) reported twice", sourceLocation: sourceLocation)
            byPointer[pointer] = error["detail"] as? String
        }
        return byPointer
    }

    func post(_ app: TestApp, _ body: String) async throws -> TestResponse {
        try await app.http.execute(
            uri: "/test/shape", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
    }

    @Test func everyShapeFaultIsReportedAtOnce() async throws {
        try await withApp(customRoutes: shapeRoutes) { app in
            let body = #"{"name": 7, "gift": "yes", "contact": {"email": null}, "lines": [{"sku": "A", "quantity": 1}, {"quantity": "2"}]}"#
            let errors = try fieldErrors(try await post(app, body))
            #expect(errors == [
                "/name": "must be a string",
                "/quantity": "is required",
                "/gift": "must be a boolean",
                "/contact/email": "must not be null",
                "/contact/phone": "is required",
                "/lines/1/sku": "is required",
                "/lines/1/quantity": "must be an integer",
            ])
        }
    }

    @Test func aMissingOrMistypedObjectIsOneFaultNotOnePerMember() async throws {
        try await withApp(customRoutes: shapeRoutes) { app in
            let errors = try fieldErrors(try await post(app, #"{"name": "Mug", "quantity": 1, "contact": 5, "lines": "none"}"#))
            #expect(errors == ["/contact": "must be an object", "/lines": "must be an array"])
        }
    }

    @Test func numbersThatDoNotFitAreNamedWhereTheyAre() async throws {
        try await withApp(customRoutes: shapeRoutes) { app in
            let body = #"{"name": "Mug", "quantity": 1.5, "lines": [{"sku": "A", "quantity": 99999999999999999999999}, {"sku": 3, "quantity": 2}]}"#
            let errors = try fieldErrors(try await post(app, body))
            #expect(errors == [
                "/quantity": "must be a whole number",
                "/lines/0/quantity": "is out of range",
                "/lines/1/sku": "must be a string",
            ])
        }
    }

    @Test func aBodyThatFitsStillPasses() async throws {
        try await withApp(customRoutes: shapeRoutes) { app in
            let response = try await post(app, #"{"name": "Mug", "quantity": 2, "gift": true, "lines": [{"sku": "A", "quantity": 1}]}"#)
            #expect(response.status == .ok, "\(response.text)")
        }
    }

    @Test func registrationReportsShapeAndRulesTogether() async throws {
        try await withApp { app in
            let response = try await app.send(.post, "/v1/auth/register", token: nil, json: #"{"email": "not-an-address", "password": 12345678}"#)
            let errors = try fieldErrors(response)
            #expect(Set(errors.keys) == ["/email", "/password", "/name"])
            #expect(errors["/password"] == "must be a string")
            #expect(errors["/name"] == "is required")
        }
    }

    @Test func aCartItemReportsWrongTypeRangeAndUnknownMembersTogether() async throws {
        try await withApp { app in
            let cart = try await app.newCart()
            let response = try await app.cart(cart, .post, "/items", json: #"{"sku": 12, "quantity": 0, "colour": "red"}"#)
            let errors = try fieldErrors(response)
            #expect(errors == [
                "/sku": "must be a string",
                "/quantity": "must be 1 to 10000",
                "/colour": "is not a known member",
            ])
        }
    }

    @Test func unknownMembersHoldingHugeNumbersAreRefusedLikeAnyOther() async throws {
        try await withApp { app in
            let cart = try await app.newCart()
            let digits = String(repeating: "9", count: 500)
            for huge in ["1e400", "-1e400", digits, "-\(digits)", "\(digits).5", "[1e400]", #"{"deep": 1e400}"#] {
                let response = try await app.cart(cart, .post, "/items", json: #"{"sku": "A", "quantity": 1, "colour": \#(huge)}"#)
                #expect(try fieldErrors(response) == ["/colour": "is not a known member"], "\(huge.prefix(20))")
            }
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let product = try await app.send(
                .post, "/v1/admin/products", token: admin, json: #"{"handle": "huge", "title": "Huge", "weight": 1e400}"#)
            #expect(try fieldErrors(product) == ["/weight": "is not a known member"])
        }
    }

    @Test func anAddressReportsEveryMissingAndBadMember() async throws {
        try await withApp { app in
            let cart = try await app.newCart()
            let response = try await app.cart(
                cart, .put, "/shipping-address", json: #"{"recipient": "", "country": "Germany", "phone": 49, "postal_code": "10117"}"#)
            let errors = try fieldErrors(response)
            #expect(errors == [
                "/line1": "is required",
                "/city": "is required",
                "/phone": "must be a string",
                "/recipient": "must not be empty",
                "/country": "must be an ISO 3166-1 alpha-2 code such as DE or US",
            ])
        }
    }

    @Test func adminInputsCollectEveryRuleBrokenAlongsideShapeFaults() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let response = try await app.send(
                .post, "/v1/admin/shipping-methods", token: admin,
                json: #"{"name": "", "currency": "euro", "flat_amount": -1, "countries": ["DE", 7]}"#)
            let errors = try fieldErrors(response)
            #expect(Set(errors.keys) == ["/name", "/currency", "/flat_amount", "/countries/1"], "\(response.text)")
            #expect(errors["/countries/1"] == "must be a string")
        }
    }
}
