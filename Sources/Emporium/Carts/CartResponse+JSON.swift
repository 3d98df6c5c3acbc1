/// A cart's JSON written by hand: five of the six requests of a checkout answer with the cart,
/// and Foundation's encoder was the largest single part of their CPU. The members are those
/// `Encodable` writes (absent optionals left out, `@NullEncoded` ones as `null`);
/// `CartResponseJSONTests` holds the two to the same JSON.
extension CartRoutes.CartResponse {
    func json() -> [UInt8] {
        var out = JSONText()
        out.object { object in
            object.string("id", id)
            object.string("status", status)
            object.string("currency", currency)
            object.string("email", orNull: email)
            object.nested("shipping_address", orNull: shippingAddress) { address, object in address.write(to: &object) }
            object.nested("shipping_method", orNull: shippingMethod) { method, object in
                object.string("id", method.id)
                object.string("name", method.name)
                object.int("amount", method.amount)
            }
            object.string("discount_code", orNull: discountCode)
            object.string("discount_problem", orNull: discountProblem)
            object.array("items", items) { line, out in out.object { line.write(to: &$0) } }
            object.nested("totals") { totals.write(to: &$0) }
            object.int("version", version)
            if let secret { object.string("secret", secret) }
            object.string("created_at", createdAt)
            object.string("updated_at", updatedAt)
        }
        return out.bytes
    }
}

extension AddressFields {
    func write(to object: inout JSONText.Object) {
        object.string("recipient", recipient)
        object.string("line1", line1)
        if let line2 { object.string("line2", line2) }
        object.string("city", city)
        if let region { object.string("region", region) }
        if let postalCode { object.string("postal_code", postalCode) }
        object.string("country", country)
        if let phone { object.string("phone", phone) }
    }
}

extension LineResponse {
    func write(to object: inout JSONText.Object) {
        object.string("id", id)
        object.string("variant_id", variantID)
        object.string("product_id", productID)
        object.string("sku", sku)
        object.string("title", title)
        object.int("quantity", quantity)
        object.int("unit_price", unitPrice)
        object.int("subtotal", subtotal)
        object.int("discount", discount)
        object.int("tax", tax)
        if let fulfilledQuantity { object.int("fulfilled_quantity", fulfilledQuantity) }
    }
}

extension TotalsResponse {
    func write(to object: inout JSONText.Object) {
        object.int("subtotal", subtotal)
        object.int("discount", discount)
        object.int("shipping", shipping)
        object.int("tax", tax)
        object.int("total", total)
        object.bool("tax_included", taxIncluded)
    }
}
