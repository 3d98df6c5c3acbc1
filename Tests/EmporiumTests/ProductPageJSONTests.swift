@testable import Emporium
import EmporiumCore
import Foundation
import Testing

/// The product page's hand-written JSON against Foundation's encoder with the storefront's
/// options: the same bytes, so that ETags do not depend on which of the two wrote a page.
@Suite struct ProductPageJSONTests {
    /// Every control character, quotes, backslashes, slashes, non-ASCII and an emoji.
    static let awkward = String(decoding: (0..<0x20).map { UInt8($0) }, as: UTF8.self)
        + "\"quoted\" back\\slash /path/ é ß 東京 🛒 \u{7F} </script>"

    static func product(_ text: String, attributes: [String: String], variants: [Variant]) -> Product {
        let date = Date(timeIntervalSince1970: 1_764_547_200.123)
        return Product(
            id: ID(UUID()), handle: "mug-\(variants.count)", title: text, description: text + "\n" + text, status: .active,
            categoryID: variants.isEmpty ? nil : ID(UUID()), tags: [text, "", "plain"],
            images: [.init(url: "https://cdn.example.com/a/b.jpg?x=1&y=2", alt: text)], attributes: attributes,
            options: ["Size", text], version: 42, createdAt: date, updatedAt: date.addingTimeInterval(3600), variants: variants)
    }

    static func variant(_ text: String, dimensions: DimensionsMM?, barcode: String?) -> Variant {
        Variant(
            id: ID(UUID()), productID: ID(UUID()), sku: "SKU-\(text.count)", title: text, optionValues: [text, "L"],
            weightGrams: 350, barcode: barcode, position: 1, lowStockThreshold: 5, backorder: .allow,
            prices: ["EUR": 1999, "USD": -1, "GBP": Int64.max], createdAt: Date(), updatedAt: Date(), dimensions: dimensions)
    }

    static func responses() -> [ProductResponse] {
        let full = variant(awkward, dimensions: .init(length: 100, width: 20, height: 3), barcode: "4006381333931")
        let partial = variant("Plain", dimensions: .init(length: nil, width: 7, height: nil), barcode: nil)
        let plain = variant("", dimensions: nil, barcode: nil)
        // "e\u{301}" (decomposed) sorts before "f" by its bytes, after it by `String`'s `<`.
        let attributes = [
            "material": awkward, "Zeta": "z", "alpha": "a", "_x": "1", "10": "ten", "9": "nine", "ä": "umlaut",
            "e\u{301}": "decomposed", "f": "f",
        ]
        return [
            ProductResponse(product(awkward, attributes: attributes, variants: []), variants: []),
            ProductResponse(
                product("Mug", attributes: [:], variants: [full, partial, plain]),
                variants: [
                    .storefront(full, available: 0), .storefront(partial, available: 3), .storefront(plain, available: 500),
                    .admin(full), VariantResponse(plain),
                ]),
        ]
    }

    @Test func theHandWrittenPageIsByteForByteFoundations() throws {
        for response in Self.responses() {
            let written = response.storefrontJSON()
            let foundation = Array(try JSONText.encoder.encode(response))
            #expect(String(decoding: written, as: UTF8.self) == String(decoding: foundation, as: UTF8.self))
            #expect(written == foundation)
        }
    }

    @Test func everyControlCharacterIsEscapedAsFoundationEscapesIt() throws {
        for byte in UInt8(0)...UInt8(0x7F) {
            let text = String(decoding: [byte], as: UTF8.self)
            var out = JSONText()
            out.string(text)
            #expect(out.bytes == Array(try JSONText.encoder.encode(text)), "byte \(byte)")
        }
    }
}
