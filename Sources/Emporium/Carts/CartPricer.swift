import EmporiumCore
import EmporiumStorage
import Foundation

/// A cart priced as it stands: the one computation both cart reads and checkout use, so the
/// total a shopper sees is the total they are charged.
struct CartQuote: Sendable {
    let items: [CartItem]
    let breakdown: PriceBreakdown
    /// The code's discount, when the cart has a code that applies.
    let discount: Discount?
    /// Why the cart's code does not apply, when it has one that does not.
    let discountRefusal: DiscountRefusal?
    /// The chosen method, when it still applies to the cart.
    let shippingMethod: ShippingMethod?
    let taxRate: TaxRateEntry?
    let weightGrams: Int64
}

/// Prices carts with the shop's shipping methods, tax rates and discount codes.
struct CartPricer: Sendable {
    let shipping: ShippingMethodStore
    let taxes: TaxRateStore
    let discounts: DiscountStore
    /// Currencies whose prices include tax (configuration `tax-included-currencies`).
    let taxIncludedCurrencies: Set<String>
    let clock: any WallClock

    func quote(_ cart: Cart, items: [CartItem], on db: any SQLExecutor) async throws -> CartQuote {
        let priced = items.map { Pricing.Item(unitPrice: $0.unitPrice, quantity: $0.quantity) }
        let taxIncluded = taxIncludedCurrencies.contains(cart.currency.code)
        let subtotal = try Pricing.price(priced, currency: cart.currency, discount: nil, shipping: 0, taxRate: nil, taxIncluded: false).subtotal
        var discount: Discount?
        var refusal: DiscountRefusal?
        if let code = cart.discountCode {
            if let found = try await discounts.find(code: code, on: db) {
                switch found.rule(currency: cart.currency, subtotal: subtotal, at: clock.now()) {
                case .success: discount = found
                case .failure(let reason): refusal = reason
                }
            } else {
                refusal = .unknown
            }
        }
        let rule = try discount.flatMap { try $0.rule(currency: cart.currency, subtotal: subtotal, at: clock.now()).get() }
        let weight = items.reduce(Int64(0)) { $0 + $1.weightGrams * $1.quantity }
        // The discount is known before shipping, and free-shipping thresholds look at the
        // subtotal after it.
        let discounted = try Pricing.price(priced, currency: cart.currency, discount: rule, shipping: 0, taxRate: nil, taxIncluded: false)
        var method: ShippingMethod?
        var shippingAmount: Int64 = 0
        if let id = cart.shippingMethodID, let chosen = try await shipping.find(id, on: db),
            let price = Self.price(of: chosen, for: cart, weightGrams: weight, discountedSubtotal: discounted.subtotal - discounted.discount)
        {
            method = chosen
            shippingAmount = price
        }
        var taxRate: TaxRateEntry?
        if let address = cart.shippingAddress {
            taxRate = try await taxes.rate(country: address.country, region: address.region, on: db)
        }
        let breakdown = try Pricing.price(
            priced, currency: cart.currency, discount: rule, shipping: shippingAmount, taxRate: taxRate?.rate,
            taxIncluded: taxIncluded)
        return CartQuote(
            items: items, breakdown: breakdown, discount: discount, discountRefusal: refusal, shippingMethod: method,
            taxRate: taxRate, weightGrams: weight)
    }

    /// The methods a cart may choose, each with its price for this cart.
    func options(for cart: Cart, quote: CartQuote, on db: any SQLExecutor) async throws -> [(ShippingMethod, Int64)] {
        let discountedSubtotal = quote.breakdown.subtotal - quote.breakdown.discount
        return try await shipping.active(currency: cart.currency, on: db).compactMap { method in
            Self.price(of: method, for: cart, weightGrams: quote.weightGrams, discountedSubtotal: discountedSubtotal).map { (method, $0) }
        }
    }

    /// What `method` charges for this cart, or nil when it cannot take it (inactive, another
    /// currency, a country it does not ship to, too heavy).
    static func price(of method: ShippingMethod, for cart: Cart, weightGrams: Int64, discountedSubtotal: Int64) -> Int64? {
        guard method.active, method.currency == cart.currency, method.ships(to: cart.shippingAddress?.country) else { return nil }
        return method.rule.price(weightGrams: weightGrams, discountedSubtotal: discountedSubtotal)
    }
}
