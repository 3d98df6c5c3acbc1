import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// What the cart routes read and answer.
extension CartRoutes {
    struct CreateInput: Codable, Sendable {
        var currency: String?
        var mergeCartID: String?

        enum CodingKeys: String, CodingKey {
            case currency
            case mergeCartID = "merge_cart_id"
        }
    }

    struct ItemInput: Codable, Sendable {
        var variantID: String?
        var sku: String?
        var quantity: Int64?

        enum CodingKeys: String, CodingKey {
            case sku, quantity
            case variantID = "variant_id"
        }
    }

    struct QuantityInput: Codable, Sendable {
        var quantity: Int64?
    }

    struct EmailInput: Codable, Sendable {
        var email: String?
    }

    struct MethodInput: Codable, Sendable {
        var shippingMethodID: String?
        /// A carrier quote's id, instead of a method.
        var rateID: String?

        enum CodingKeys: String, CodingKey {
            case shippingMethodID = "shipping_method_id"
            case rateID = "rate_id"
        }
    }

    struct CodeInput: Codable, Sendable {
        var code: String?
    }

    // MARK: Answers

    struct CartResponse: Encodable, Sendable {
        struct Shipping: Encodable, Sendable {
            let id: String
            let name: String
            let amount: Int64
        }

        let id: String
        let status: String
        let currency: String
        @NullEncoded var email: String?
        @NullEncoded var shippingAddress: AddressFields?
        @NullEncoded var shippingMethod: Shipping?
        @NullEncoded var discountCode: String?
        /// Why the code set on the cart gives nothing now.
        @NullEncoded var discountProblem: String?
        let items: [LineResponse]
        let totals: TotalsResponse
        let version: Int64
        /// Only in the answer that creates a guest cart.
        let secret: String?
        let createdAt: String
        let updatedAt: String

        enum CodingKeys: String, CodingKey {
            case id, status, currency, email, items, totals, version, secret
            case shippingAddress = "shipping_address"
            case shippingMethod = "shipping_method"
            case discountCode = "discount_code"
            case discountProblem = "discount_problem"
            case createdAt = "created_at"
            case updatedAt = "updated_at"
        }
    }

    struct ShippingOption: Encodable, Sendable {
        let id: String
        /// `table` (choose with `shipping_method_id`) or `carrier` (choose with `rate_id`).
        let kind: String
        let name: String
        let amount: Int64
        let currency: String
        @NullEncoded var estimatedDays: Int64?
        @NullEncoded var expiresAt: String?

        enum CodingKeys: String, CodingKey {
            case id, kind, name, amount, currency
            case estimatedDays = "estimated_days"
            case expiresAt = "expires_at"
        }

        init(_ choice: ShippingChoice) {
            id = choice.id
            kind = choice.kind.rawValue
            name = choice.name
            amount = choice.amount
            currency = choice.currency.code
            estimatedDays = choice.estimatedDays
            expiresAt = choice.expiresAt.map(Timestamp.string(from:))
        }
    }
}

/// A cart answer with its version as an ETag.
struct CartAnswer: ResponseGenerator {
    let status: HTTPResponse.Status
    let version: Int64
    let body: CartRoutes.CartResponse

    init(_ priced: PricedCart, status: HTTPResponse.Status = .ok, secret: String? = nil) {
        self.status = status
        version = priced.cart.version
        body = CartRoutes.CartResponse(priced.cart, quote: priced.quote, secret: secret)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let json = body.json()
        return Response(
            status: status,
            headers: [
                .contentType: "application/json; charset=utf-8", .contentLength: String(json.count),
                .eTag: ETag.make(version),
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: json)))
    }
}

// MARK: The rules of the inputs

extension CartRoutes.CreateInput: CheckedBody {
    func check(into errors: inout FieldErrors) {
        _ = errors.currency(currency, "/currency")
        if let mergeCartID, ID<Cart>(mergeCartID) == nil { errors.add("/merge_cart_id", "must be a cart id") }
    }
}

extension CartRoutes.ItemInput: CheckedBody {
    func check(into errors: inout FieldErrors) {
        if variantID == nil, sku == nil { errors.add("/variant_id", "name the variant by variant_id or sku") }
        if let variantID, ID<Variant>(variantID) == nil { errors.add("/variant_id", "must be a variant id") }
        CartRoutes.QuantityInput(quantity: quantity).check(into: &errors)
    }
}

extension CartRoutes.QuantityInput: CheckedBody {
    func check(into errors: inout FieldErrors) {
        if let quantity = errors.required(quantity, "/quantity"), !(1...CartStore.maximumQuantity).contains(quantity) {
            errors.add("/quantity", "must be 1 to \(CartStore.maximumQuantity)")
        }
    }
}

extension CartRoutes.EmailInput: CheckedBody {
    func check(into errors: inout FieldErrors) {
        if let email = errors.required(email, "/email") { errors.add("/email", AccountRules.emailProblem(email)) }
    }
}

extension CartRoutes.MethodInput: CheckedBody {
    func check(into errors: inout FieldErrors) {
        if shippingMethodID != nil, rateID != nil {
            errors.add("/rate_id", "give either shipping_method_id or rate_id, not both")
        } else if let rateID {
            errors.text(rateID, "/rate_id", maximum: 64)
        } else if let id = errors.required(shippingMethodID, "/shipping_method_id"), ID<ShippingMethod>(id) == nil {
            errors.add("/shipping_method_id", "must be a shipping method id")
        }
    }
}

extension CartRoutes.CodeInput: CheckedBody {
    func check(into errors: inout FieldErrors) {
        errors.text(code, "/code", maximum: 40)
    }
}

extension CartRoutes.CartResponse {
    /// Outside the type, so that the memberwise initializer stays (tests build answers with it).
    init(_ cart: Cart, quote: CartQuote, secret: String? = nil) {
        id = cart.id.description
        status = cart.status.rawValue
        currency = cart.currency.code
        email = cart.email
        shippingAddress = cart.shippingAddress
        shippingMethod = quote.shippingMethod.map {
            Shipping(id: $0.id.description, name: $0.name, amount: quote.breakdown.shipping)
        } ?? quote.shippingRate.map {
            Shipping(id: $0.id.description, name: $0.name, amount: quote.breakdown.shipping)
        }
        discountCode = cart.discountCode
        discountProblem = quote.discountRefusal?.detail
        items = zip(quote.items, quote.breakdown.lines).map { LineResponse($0, priced: $1) }
        let breakdown = quote.breakdown
        totals = TotalsResponse(
            subtotal: breakdown.subtotal, discount: breakdown.discount, shipping: breakdown.shipping, tax: breakdown.tax,
            total: breakdown.total, taxIncluded: breakdown.taxIncluded)
        version = cart.version
        self.secret = secret
        createdAt = Timestamp.string(from: cart.createdAt)
        updatedAt = Timestamp.string(from: cart.updatedAt)
    }
}
