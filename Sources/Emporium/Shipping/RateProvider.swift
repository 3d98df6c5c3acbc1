import EmporiumCore
import Foundation

/// Something that prices shipping a cart: the shop's own table rates, or a carrier's API.
protocol RateProvider: Sendable {
    /// The ways this provider can ship the request's cart, each priced. A provider that cannot
    /// be reached throws; one that has nothing to offer answers an empty list.
    func rates(for request: RateRequest) async throws -> [RateOffer]
}

/// What a rate is asked for: the cart as priced so far, and its parcel when the cart has a
/// shipping address and lines.
struct RateRequest: Sendable {
    let cart: Cart
    let weightGrams: Int64
    /// The subtotal after the discount: free-shipping thresholds look at it.
    let discountedSubtotal: Int64
    let parcel: Parcel?
}

/// One way to ship, priced for one cart.
struct RateOffer: Sendable, Equatable {
    enum Source: Sendable, Equatable {
        /// One of the shop's shipping methods.
        case table(ShippingMethod)
        /// A carrier's service, with the carrier's id of this rate and until when it holds.
        case carrier(rateID: String, service: String, expiresAt: Date?)
    }

    let source: Source
    let name: String
    let amount: Int64
    let currency: Currency
    let estimatedDays: Int64?
}

/// A parcel as a carrier prices it: the lines' total weight, a box that holds them, where it
/// leaves from and where it goes.
struct Parcel: Sendable, Equatable {
    struct Dimensions: Sendable, Equatable {
        let lengthMM: Int64
        let widthMM: Int64
        let heightMM: Int64
    }

    /// A stock location; the carrier account knows its address by the location's code.
    struct Origin: Sendable, Equatable {
        let code: String
        let name: String
    }

    let weightGrams: Int64
    /// Nil when a line's variant has no dimensions: the carrier prices by weight alone.
    let dimensions: Dimensions?
    let origin: Origin?
    let destination: AddressFields

    /// The box for lines of these dimensions: as long and wide as the largest, as high as all
    /// of them stacked. Crude, but never smaller than the goods.
    static func box(_ lines: [(dimensions: Dimensions?, quantity: Int64)]) -> Dimensions? {
        guard !lines.isEmpty else { return nil }
        var length: Int64 = 0, width: Int64 = 0, height: Int64 = 0
        for line in lines {
            guard let size = line.dimensions else { return nil }
            length = max(length, size.lengthMM)
            width = max(width, size.widthMM)
            height += size.heightMM * line.quantity
        }
        return Dimensions(lengthMM: length, widthMM: width, heightMM: min(height, 100_000))
    }

    /// What a carrier quote depends on in a cart: its lines and where they go. A chosen quote
    /// keeps its price while this stays the same (an e-mail or a discount code does not
    /// change what the carrier charges).
    static func digest(items: [CartItem], destination: AddressFields?) -> String {
        let lines = items.sorted { $0.variantID < $1.variantID }.map { "\($0.variantID)x\($0.quantity)" }
        let place = destination.map { [$0.country, $0.region ?? "", $0.postalCode ?? "", $0.city] } ?? []
        return SecretToken.digest((lines + ["@"] + place).joined(separator: "|"))
    }
}
