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
    /// The chosen carrier quote, when it still holds for the cart.
    var shippingRate: CarrierQuote? = nil
    /// Why the chosen carrier quote no longer holds, when the cart has one that does not.
    var shippingRateProblem: Problem? = nil
    let taxRate: TaxRateEntry?
    let weightGrams: Int64
}

/// Prices carts with the shop's shipping methods, tax rates and discount codes.
struct CartPricer: Sendable {
    let shipping: ShippingMethodStore
    let carrierQuotes: CarrierQuoteStore
    let taxes: TaxRateStore
    let discounts: DiscountStore
    /// Tax rates and shipping methods in memory, for carts read with the settings' generation.
    let settings: PricingSettings
    /// Currencies whose prices include tax (configuration `tax-included-currencies`).
    let taxIncludedCurrencies: Set<String>
    let clock: any WallClock

    func quote(_ cart: Cart, items: [CartItem], on db: any SQLExecutor) async throws -> CartQuote {
        var snapshot: PricingSettings.Snapshot?
        if let generation = cart.settingsGeneration { snapshot = try await settings.snapshot(generation: generation, on: db) }
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
        if let id = cart.shippingMethodID, let chosen = try await shippingMethod(id, in: snapshot, on: db),
            let price = TableRates.price(of: chosen, for: cart, weightGrams: weight, discountedSubtotal: discounted.subtotal - discounted.discount)
        {
            method = chosen
            shippingAmount = price
        }
        var rate: CarrierQuote?
        var rateProblem: Problem?
        if let id = cart.shippingRateID {
            switch try await chosenRate(id, for: cart, items: items, on: db) {
            case .success(let quote):
                rate = quote
                shippingAmount = quote.amount
            case .failure(let problem):
                rateProblem = problem
            }
        }
        var taxRate: TaxRateEntry?
        if let address = cart.shippingAddress {
            if let snapshot {
                taxRate = snapshot.taxRate(country: address.country, region: address.region)
            } else {
                taxRate = try await taxes.rate(country: address.country, region: address.region, on: db)
            }
        }
        let breakdown = try Pricing.price(
            priced, currency: cart.currency, discount: rule, shipping: shippingAmount, taxRate: taxRate?.rate,
            taxIncluded: taxIncluded)
        return CartQuote(
            items: items, breakdown: breakdown, discount: discount, discountRefusal: refusal, shippingMethod: method,
            shippingRate: rate, shippingRateProblem: rateProblem, taxRate: taxRate, weightGrams: weight)
    }

    /// A shipping method from the settings held in memory when there are some, else from its table.
    private func shippingMethod(_ id: ID<ShippingMethod>, in snapshot: PricingSettings.Snapshot?, on db: any SQLExecutor) async throws -> ShippingMethod? {
        if let snapshot { return snapshot.shippingMethods[id] }
        return try await shipping.find(id, on: db)
    }

    /// The carrier quote a cart has chosen, if it still prices this cart: the server keeps the
    /// amount, the client only names the quote. It holds until it expires or the cart's lines
    /// or destination change.
    func chosenRate(_ id: ID<CarrierQuote>, for cart: Cart, items: [CartItem], on db: any SQLExecutor) async throws -> Result<CarrierQuote, Problem> {
        guard let quote = try await carrierQuotes.find(id, on: db), quote.cartID == cart.id, quote.currency == cart.currency else {
            return .failure(ShippingRateProblems.unknown)
        }
        guard quote.expiresAt > clock.now() else { return .failure(ShippingRateProblems.expired) }
        guard quote.parcelDigest == Parcel.digest(items: items, destination: cart.shippingAddress) else {
            return .failure(ShippingRateProblems.parcelChanged)
        }
        return .success(quote)
    }
}
