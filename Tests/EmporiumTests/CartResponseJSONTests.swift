@testable import Emporium
import Foundation
import Testing

/// The cart's hand-written JSON against what the API's encoder makes of the same answer: the
/// same members with the same values, `null` where `@NullEncoded` writes it and absent where
/// `Encodable` leaves an optional out.
@Suite struct CartResponseJSONTests {
    static let awkward = ProductPageJSONTests.awkward

    static func line(_ text: String, fulfilled: Int64?) -> LineResponse {
        LineResponse(
            id: UUID().uuidString, variantID: UUID().uuidString, productID: UUID().uuidString, sku: "SKU/" + text,
            title: text, quantity: 3, unitPrice: Int64.max, subtotal: -1, discount: 0, tax: 19, fulfilledQuantity: fulfilled)
    }

    static func responses() -> [CartRoutes.CartResponse] {
        let full = AddressFields(
            recipient: awkward, line1: "Hauptstraße 1", line2: "c/o \"Zweite\"", city: "Köln", region: "NW",
            postalCode: "50667", country: "DE", phone: "+49 221 1234")
        let sparse = AddressFields(
            recipient: "A", line1: "B", line2: nil, city: "C", region: nil, postalCode: nil, country: "US", phone: nil)
        return [
            CartRoutes.CartResponse(
                id: UUID().uuidString, status: "open", currency: "EUR", email: "a/b@example.com", shippingAddress: full,
                shippingMethod: .init(id: UUID().uuidString, name: awkward, amount: 490), discountCode: "SAVE10",
                discountProblem: awkward, items: [line(awkward, fulfilled: nil), line("", fulfilled: 2)],
                totals: .init(subtotal: 100, discount: -5, shipping: 490, tax: 0, total: 585, taxIncluded: true),
                version: 7, secret: "s3cr3t", createdAt: "2026-12-02T10:00:00.000Z", updatedAt: "2026-12-02T10:00:01.000Z"),
            CartRoutes.CartResponse(
                id: UUID().uuidString, status: "converted", currency: "USD", email: nil, shippingAddress: sparse,
                shippingMethod: nil, discountCode: nil, discountProblem: nil, items: [],
                totals: .init(subtotal: 0, discount: 0, shipping: 0, tax: 0, total: 0, taxIncluded: false),
                version: 1, secret: nil, createdAt: "2026-12-02T10:00:00.000Z", updatedAt: "2026-12-02T10:00:00.000Z"),
            CartRoutes.CartResponse(
                id: UUID().uuidString, status: "open", currency: "EUR", email: nil, shippingAddress: nil,
                shippingMethod: nil, discountCode: nil, discountProblem: nil, items: [line("x", fulfilled: nil)],
                totals: .init(subtotal: 1, discount: 0, shipping: 0, tax: 0, total: 1, taxIncluded: true),
                version: 2, secret: nil, createdAt: "2026-12-02T10:00:00.000Z", updatedAt: "2026-12-02T10:00:00.000Z"),
        ]
    }

    /// Parsed, since member order is not part of JSON (Foundation's unsorted encoder keeps none).
    static func parsed(_ bytes: [UInt8]) throws -> NSDictionary {
        try #require(JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) as? NSDictionary)
    }

    @Test func theHandWrittenCartIsTheEncodersJSON() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        for response in Self.responses() {
            let written = response.json()
            let foundation = Array(try encoder.encode(response))
            #expect(try Self.parsed(written) == Self.parsed(foundation))
            // Same length: the same escaping (slashes unescaped, control characters as Foundation writes them).
            #expect(written.count == foundation.count)
        }
        let first = try Self.parsed(Self.responses()[0].json())
        #expect(first["secret"] as? String == "s3cr3t")
        let second = try Self.parsed(Self.responses()[1].json())
        #expect(second["secret"] == nil)
        #expect(second["email"] is NSNull)
        #expect((second["shipping_address"] as? NSDictionary)?["line2"] == nil)
    }
}
