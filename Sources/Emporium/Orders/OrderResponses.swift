import EmporiumCore
import EmporiumStorage
import Foundation
import Hummingbird

/// Amounts as every cart and order answer shows them.
struct TotalsResponse: Codable, Sendable {
    let subtotal: Int64
    let discount: Int64
    let shipping: Int64
    let tax: Int64
    let total: Int64
    let taxIncluded: Bool

    enum CodingKeys: String, CodingKey {
        case subtotal, discount, shipping, tax, total
        case taxIncluded = "tax_included"
    }
}

/// A priced line as carts and orders show it; only order lines say how much was fulfilled.
struct LineResponse: Encodable, Sendable {
    let id: String
    let variantID: String
    let productID: String
    let sku: String
    let title: String
    let quantity: Int64
    let unitPrice: Int64
    let subtotal: Int64
    let discount: Int64
    let tax: Int64
    let fulfilledQuantity: Int64?

    enum CodingKeys: String, CodingKey {
        case id, sku, title, quantity, subtotal, discount, tax
        case variantID = "variant_id"
        case productID = "product_id"
        case unitPrice = "unit_price"
        case fulfilledQuantity = "fulfilled_quantity"
    }
}

extension LineResponse {
    /// Outside the type, so that the memberwise initializer stays (tests build answers with it).
    init(_ item: CartItem, priced line: PriceBreakdown.Line) {
        id = item.id.description
        variantID = item.variantID.description
        productID = item.productID.description
        sku = item.sku
        title = item.title
        quantity = item.quantity
        unitPrice = item.unitPrice
        subtotal = line.subtotal
        discount = line.discount
        tax = line.tax
        fulfilledQuantity = nil
    }

    init(_ line: OrderLine) {
        id = line.id.description
        variantID = line.variantID.description
        productID = line.productID.description
        sku = line.sku
        title = line.title
        quantity = line.quantity
        unitPrice = line.unitPrice
        subtotal = line.subtotal
        discount = line.discount
        tax = line.tax
        fulfilledQuantity = line.fulfilledQuantity
    }
}

/// An order as customers and staff read it.
struct OrderResponse: ResponseEncodable, Sendable {

    struct PaymentSummary: Encodable, Sendable {
        let provider: String
        let status: String
        let amount: Int64
        let authorized: Int64
        let captured: Int64
        let refunded: Int64
        @NullEncoded var failureCode: String?

        enum CodingKeys: String, CodingKey {
            case provider, status, amount, authorized, captured, refunded
            case failureCode = "failure_code"
        }
    }

    let id: String
    let number: String
    let status: String
    let email: String
    @NullEncoded var customerID: String?
    let currency: String
    let totals: TotalsResponse
    @NullEncoded var discountCode: String?
    let shippingMethod: String
    let shippingAddress: AddressFields
    let lines: [LineResponse]
    @NullEncoded var payment: PaymentSummary?
    @NullEncoded var placedAt: String?
    @NullEncoded var cancelledAt: String?
    @NullEncoded var cancelReason: String?
    let createdAt: String
    let updatedAt: String
    /// A guest's key to the order (`X-Order-Token`), in the checkout answer only: shown once,
    /// absent from every other answer, replays of the checkout included.
    var accessToken: String?
    /// What the customer has to do before the payment can be authorized (3-D Secure), in the
    /// checkout answer only (202).
    var paymentAction: PaymentAction?

    /// The provider's client secret and its `next_action`, for the provider's client library.
    struct PaymentAction: Encodable, Sendable {
        let clientSecret: String
        let nextAction: JSONValue

        init(clientSecret: String, nextAction: String) {
            self.clientSecret = clientSecret
            self.nextAction = JSONValue(parsing: nextAction)
        }

        enum CodingKeys: String, CodingKey {
            case clientSecret = "client_secret"
            case nextAction = "next_action"
        }
    }

    enum CodingKeys: String, CodingKey {
        case id, number, status, email, currency, totals, lines, payment
        case accessToken = "access_token"
        case paymentAction = "payment_action"
        case customerID = "customer_id"
        case discountCode = "discount_code"
        case shippingMethod = "shipping_method"
        case shippingAddress = "shipping_address"
        case placedAt = "placed_at"
        case cancelledAt = "cancelled_at"
        case cancelReason = "cancel_reason"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    init(_ order: Order, lines: [OrderLine], payment: Payment?) {
        id = order.id.description
        number = order.displayNumber
        status = order.status.rawValue
        email = order.email
        customerID = order.userID?.description
        currency = order.currency.code
        totals = TotalsResponse(
            subtotal: order.subtotal, discount: order.discount, shipping: order.shipping, tax: order.tax, total: order.total,
            taxIncluded: order.taxIncluded)
        discountCode = order.discountCode
        shippingMethod = order.shippingMethodName
        shippingAddress = order.shippingAddress
        self.lines = lines.map(LineResponse.init)
        self.payment = payment.map { payment in
            PaymentSummary(
                provider: payment.provider, status: payment.status.rawValue, amount: payment.amount,
                authorized: payment.authorized, captured: payment.captured, refunded: payment.refunded,
                failureCode: payment.failureCode)
        }
        placedAt = order.placedAt.map(Timestamp.string)
        cancelledAt = order.cancelledAt.map(Timestamp.string)
        cancelReason = order.cancelReason
        createdAt = Timestamp.string(from: order.createdAt)
        updatedAt = Timestamp.string(from: order.updatedAt)
    }

    /// A page of orders (up to `limit + 1` rows, as `Page` expects) with their lines and payments.
    static func page(
        _ orders: [Order], limit: Int, lines: [ID<Order>: [OrderLine]], payments: [ID<Order>: Payment]
    ) -> Page<OrderResponse> {
        Page(orders.map { OrderResponse($0, lines: lines[$0.id] ?? [], payment: payments[$0.id]) }, limit: limit, id: \.id)
    }
}

struct RefundResponse: ResponseEncodable, Sendable {
    let id: String
    let orderID: String
    let amount: Int64
    @NullEncoded var reason: String?
    let status: String
    @NullEncoded var providerReference: String?
    let createdAt: String

    enum CodingKeys: String, CodingKey {
        case id, amount, reason, status
        case orderID = "order_id"
        case providerReference = "provider_reference"
        case createdAt = "created_at"
    }

    init(_ refund: Refund) {
        id = refund.id.description
        orderID = refund.orderID.description
        amount = refund.amount
        reason = refund.reason
        status = refund.status.rawValue
        providerReference = refund.providerReference
        createdAt = Timestamp.string(from: refund.createdAt)
    }
}
