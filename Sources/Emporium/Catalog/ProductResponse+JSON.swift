import Foundation

/// A product page's JSON written by hand, byte for byte what `StorefrontRoutes`' encoder
/// (sorted keys, slashes unescaped) makes of it: Foundation's encoder was 12 % of the server's
/// time on a page read from the database. `ProductPageJSONTests` holds the two to the same bytes.
extension ProductResponse {
    func storefrontJSON() throws -> [UInt8] {
        var out = JSONText()
        try out.object { object in
            try object.raw("attributes", attributes.isEmpty ? Array("{}".utf8) : JSONText.foundation(attributes))
            if let categoryID { object.string("category_id", categoryID) } else { object.raw("category_id", Array("null".utf8)) }
            object.string("created_at", createdAt)
            object.string("description", description)
            object.string("handle", handle)
            object.string("id", id)
            object.array("images", images) { image, out in
                out.object { object in
                    object.string("alt", image.alt)
                    object.string("url", image.url)
                }
            }
            object.array("options", options) { $1.string($0) }
            object.string("status", status.rawValue)
            object.array("tags", tags) { $1.string($0) }
            object.string("title", title)
            object.string("updated_at", updatedAt)
            object.array("variants", variants) { variant, out in variant.write(to: &out) }
            object.int("version", version)
        }
        return out.bytes
    }
}

extension VariantResponse {
    fileprivate func write(to out: inout JSONText) {
        out.object { object in
            if let availability {
                object.nested("availability") { object in
                    if let quantity = availability.quantity { object.string("quantity", quantity) }
                    object.string("status", availability.status)
                }
            }
            if let backorder { object.string("backorder", backorder.rawValue) }
            if let barcode { object.string("barcode", barcode) }
            if let dimensionsMM {
                object.nested("dimensions_mm") { object in
                    if let height = dimensionsMM.height { object.int("height", height) }
                    if let length = dimensionsMM.length { object.int("length", length) }
                    if let width = dimensionsMM.width { object.int("width", width) }
                }
            }
            object.string("id", id)
            if let lowStockThreshold { object.int("low_stock_threshold", lowStockThreshold) }
            object.array("option_values", optionValues) { $1.string($0) }
            object.array("prices", prices) { price, out in
                out.object { object in
                    object.int("amount", price.amount)
                    object.string("currency", price.currency)
                }
            }
            object.string("sku", sku)
            object.string("title", title)
            object.int("weight_grams", weightGrams)
        }
    }
}

/// Compact JSON text, written in the order it is given: callers give keys sorted.
struct JSONText {
    private(set) var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(1024) }

    /// An object's members; the caller writes them in key order.
    struct Object {
        fileprivate var text: JSONText
        private var first = true

        fileprivate init(_ text: JSONText) { self.text = text }

        private mutating func key(_ key: String) {
            if !first { text.bytes.append(UInt8(ascii: ",")) }
            first = false
            text.string(key)
            text.bytes.append(UInt8(ascii: ":"))
        }

        mutating func string(_ name: String, _ value: String) {
            key(name)
            text.string(value)
        }

        mutating func int(_ name: String, _ value: Int64) {
            key(name)
            text.bytes.append(contentsOf: String(value).utf8)
        }

        mutating func raw(_ name: String, _ json: [UInt8]) {
            key(name)
            text.bytes.append(contentsOf: json)
        }

        mutating func nested(_ name: String, _ body: (inout Object) -> Void) {
            key(name)
            text.object(body)
        }

        mutating func array<Element>(_ name: String, _ elements: [Element], _ write: (Element, inout JSONText) -> Void) {
            key(name)
            text.bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { text.bytes.append(UInt8(ascii: ",")) }
                write(element, &text)
            }
            text.bytes.append(UInt8(ascii: "]"))
        }
    }

    mutating func object(_ body: (inout Object) throws -> Void) rethrows {
        var object = Object(self)
        bytes = []
        object.text.bytes.append(UInt8(ascii: "{"))
        try body(&object)
        object.text.bytes.append(UInt8(ascii: "}"))
        self = object.text
    }

    /// A string as Foundation's encoder writes it with `.withoutEscapingSlashes`: quote and
    /// backslash escaped, control characters as \b \f \n \r \t or \u00XX, the rest as UTF-8.
    mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                          hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// What the storefront's encoder makes of a value: for the members whose key order is
    /// Foundation's to decide (a dictionary's own keys).
    static func foundation(_ value: some Encodable) throws -> [UInt8] {
        Array(try encoder.encode(value))
    }

    /// Sorted keys: the ETag is a digest of the body, so equal content must give equal bytes
    /// (Foundation's key order is not stable from one encoding to the next).
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}
