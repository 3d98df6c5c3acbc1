import EmporiumCore
import EmporiumStorage
import Foundation

/// The shop's own shipping methods as a rate provider: flat or weight-tiered prices, free over
/// a subtotal, to some countries. Always there, so checkout has methods when a carrier is off,
/// slow or failing.
struct TableRates: RateProvider {
    let database: any Database
    let store: ShippingMethodStore

    func rates(for request: RateRequest) async throws -> [RateOffer] {
        try await store.active(currency: request.cart.currency, on: database).compactMap { method in
            Self.price(of: method, for: request.cart, weightGrams: request.weightGrams, discountedSubtotal: request.discountedSubtotal)
                .map { RateOffer(source: .table(method), name: method.name, amount: $0, currency: method.currency, estimatedDays: nil) }
        }
    }

    /// What `method` charges for this cart, or nil when it cannot take it (inactive, another
    /// currency, a country it does not ship to, too heavy).
    static func price(of method: ShippingMethod, for cart: Cart, weightGrams: Int64, discountedSubtotal: Int64) -> Int64? {
        guard method.active, method.currency == cart.currency, method.ships(to: cart.shippingAddress?.country) else { return nil }
        return method.rule.price(weightGrams: weightGrams, discountedSubtotal: discountedSubtotal)
    }
}
