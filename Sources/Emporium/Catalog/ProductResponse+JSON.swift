import Foundation

/// A product page's JSON written by hand, byte for byte what `StorefrontRoutes`' encoder
/// (sorted keys, slashes unescaped) makes of it: Foundation's encoder was 12 % of the server's
/// time on a page read from the database. `ProductPageJSONTests` holds the two to the same bytes.
extension ProductResponse {
    func storefrontJSON() -> [UInt8] {
        var out = JSONText()
        out.object { object in
            // In the order of Foundation's sorted keys: by UTF-8 bytes, not by `String`'s `<`,
            // which compares the composed forms ("e\u{301}" sorts before "f" by its bytes).
            object.nested("attributes") { object in
                for (key, value) in attributes.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                    object.string(key, value)
                }
            }
            object.string("category_id", orNull: categoryID)
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
