import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes

/// An order: what a checkout bought, at the prices, discount, shipping and tax it was charged,
/// with the address it goes to. Nothing in it follows later catalog changes.
struct Order: Sendable {
    let id: ID<Order>
    let number: Int64
    let cartID: ID<Cart>
    let userID: ID<User>?
    let email: String
    let currency: Currency
    var status: OrderStatus
    let subtotal: Int64
    let discount: Int64
    let shipping: Int64
    let tax: Int64
    let total: Int64
    let taxIncluded: Bool
    let discountID: ID<Discount>?
    let discountCode: String?
    let shippingMethodID: ID<ShippingMethod>?
    let shippingMethodName: String
    let shippingAddress: AddressFields
    var reservationExpiresAt: Date?
    var placedAt: Date?
    var cancelledAt: Date?
    var cancelReason: String?
    var version: Int64
    let createdAt: Date
    var updatedAt: Date

    /// `#1001`: how people name an order.
    var displayNumber: String { "#\(number)" }
}

struct OrderLine: Sendable {
    let id: ID<OrderLine>
    let position: Int64
    let variantID: ID<Variant>
    let productID: ID<Product>
    let sku: String
    let title: String
    let quantity: Int64
    let unitPrice: Int64
    let subtotal: Int64
    let discount: Int64
    let tax: Int64
    /// Where the line's stock is held; nil for a back-ordered line.
    let reservedLocationID: ID<StockLocation>?
    var fulfilledQuantity: Int64

    var outstanding: Int64 { quantity - fulfilledQuantity }
}
