import EmporiumCore
import EmporiumStorage
import Foundation

/// A shopper's cart: a guest's (reached with its secret) or a customer's (at most one open).
struct Cart: Sendable, Equatable {
    enum Status: String, Sendable {
        case open
        /// Checked out: an order was made from it.
        case converted
        /// Folded into its owner's customer cart at sign-in.
        case merged
    }

    let id: ID<Cart>
    var secretHash: String?
    var userID: ID<User>?
    var currency: Currency
    var email: String?
    var shippingAddress: AddressFields?
    var shippingMethodID: ID<ShippingMethod>?
    /// A carrier quote chosen instead of a shipping method.
    var shippingRateID: ID<CarrierQuote>? = nil
    var discountCode: String?
    var status: Status
    var version: Int64
    let createdAt: Date
    var updatedAt: Date
    /// The lines as `CartStore.find` read them with the cart, in the same statement: those of
    /// `version`, so a change made conditional on it may plan from them. Nil when not read.
    var itemsAsRead: [CartItem]? = nil
    /// The pricing settings' generation, read in the same statement as the cart
    /// (`PricingSettings`). Nil when not read.
    var settingsGeneration: Int64? = nil
    /// The variant a line is being added for, read in the same statement as the cart
    /// (`CartStore.find(_:adding:on:)`). Nil when not read.
    var variantAsRead: CartStore.VariantAsRead? = nil
}

/// A line of a cart. Title, SKU and unit price are copied when the line is added, so that the
/// cart shows what the shopper chose even if the catalog changes; checkout re-checks the price.
struct CartItem: Sendable, Equatable {
    let id: ID<CartItem>
    let variantID: ID<Variant>
    var quantity: Int64
    var sku: String
    var title: String
    var unitPrice: Int64
    /// From the catalog, read with the line.
    var productID: ID<Product>
    var weightGrams: Int64
    var backorder: Bool
    /// The variant's price in the cart's currency now, nil when it has none (or is not for sale).
    var currentPrice: Int64?
}
