/// A reduction a discount code gives.
public enum DiscountRule: Hashable, Sendable {
    /// A share of the subtotal in parts per million (10 % is 100_000), rounded half to even.
    case percentage(partsPerMillion: Int64)
    /// A fixed amount in minor units, never more than the subtotal.
    case fixed(Int64)
}

/// What a cart or an order costs, line by line. Amounts are minor units of one currency.
///
/// The identity `subtotal − discount + shipping + tax = total` holds for tax-exclusive
/// prices. Where prices include tax (`taxIncluded`), `tax` is the part of the total that is
/// tax and `subtotal − discount + shipping = total`.
public struct PriceBreakdown: Hashable, Sendable {
    public struct Line: Hashable, Sendable {
        public let subtotal: Int64
        public let discount: Int64
        public let tax: Int64
    }

    public let lines: [Line]
    public let subtotal: Int64
    public let discount: Int64
    public let shipping: Int64
    public let shippingTax: Int64
    public let tax: Int64
    public let total: Int64
    public let taxIncluded: Bool
}

/// The one pricing rule (DESIGN §4): line subtotals; the discount taken from the subtotal and
/// spread over the lines in proportion to their subtotals (largest remainders first, so the
/// shares add up exactly); tax per line on what remains, and on the shipping charge, each
/// rounded half to even.
public enum Pricing {
    public struct Item: Hashable, Sendable {
        public let unitPrice: Int64
        public let quantity: Int64

        public init(unitPrice: Int64, quantity: Int64) {
            self.unitPrice = unitPrice
            self.quantity = quantity
        }
    }

    public static func price(
        _ items: [Item], currency: Currency, discount rule: DiscountRule?, shipping: Int64, taxRate: TaxRate?,
        taxIncluded: Bool
    ) throws(MoneyError) -> PriceBreakdown {
        var subtotals: [Int64] = []
        for item in items {
            guard item.unitPrice >= 0, item.quantity >= 0 else { throw .invalidAmount("negative price or quantity") }
            subtotals.append(try Money(minorUnits: item.unitPrice, currency: currency).multiplied(by: item.quantity).minorUnits)
        }
        let subtotal = try Money.sum(subtotals.map { Money(minorUnits: $0, currency: currency) }, currency: currency).minorUnits
        let discount: Int64 = switch rule {
        case nil: 0
        case .percentage(let ppm)?: try Tax.divideHalfEven(subtotal, times: min(max(ppm, 0), 1_000_000), by: 1_000_000)
        case .fixed(let amount)?: min(max(amount, 0), subtotal)
        }
        let shares: [Int64]
        if discount > 0, subtotal > 0 {
            shares = try Money(minorUnits: discount, currency: currency).allocated(overWeights: subtotals).map(\.minorUnits)
        } else {
            shares = subtotals.map { _ in 0 }
        }
        let rate = taxRate ?? TaxRate(partsPerMillion: 0)!
        func tax(_ amount: Int64) throws(MoneyError) -> Int64 {
            let money = Money(minorUnits: amount, currency: currency)
            return taxIncluded ? try Tax.includedIn(money, rate: rate).minorUnits : try Tax.onNet(money, rate: rate).minorUnits
        }
        var lines: [PriceBreakdown.Line] = []
        var taxTotal: Int64 = 0
        for (lineSubtotal, share) in zip(subtotals, shares) {
            let lineTax = try tax(lineSubtotal - share)
            lines.append(.init(subtotal: lineSubtotal, discount: share, tax: lineTax))
            taxTotal += lineTax
        }
        guard shipping >= 0 else { throw .invalidAmount("negative shipping") }
        let shippingTax = try tax(shipping)
        taxTotal += shippingTax
        var total = try Money(minorUnits: subtotal - discount, currency: currency)
            .adding(Money(minorUnits: shipping, currency: currency))
        if !taxIncluded { total = try total.adding(Money(minorUnits: taxTotal, currency: currency)) }
        return PriceBreakdown(
            lines: lines, subtotal: subtotal, discount: discount, shipping: shipping, shippingTax: shippingTax,
            tax: taxTotal, total: total.minorUnits, taxIncluded: taxIncluded)
    }
}

/// How a shipping method prices a parcel.
public struct ShippingRule: Hashable, Sendable {
    /// Up to and including `maximumGrams`, the parcel costs `amount`.
    public struct WeightTier: Hashable, Sendable, Codable {
        public let maximumGrams: Int64
        public let amount: Int64

        public init(maximumGrams: Int64, amount: Int64) {
            self.maximumGrams = maximumGrams
            self.amount = amount
        }

        enum CodingKeys: String, CodingKey {
            case amount
            case maximumGrams = "max_grams"
        }
    }

    /// A flat charge, used when there are no tiers.
    public let flatAmount: Int64
    /// Ascending by weight; a parcel heavier than the last tier cannot go by this method.
    public let tiers: [WeightTier]
    /// From this subtotal (after the discount) on, shipping is free.
    public let freeOver: Int64?

    public init(flatAmount: Int64, tiers: [WeightTier], freeOver: Int64?) {
        self.flatAmount = flatAmount
        self.tiers = tiers.sorted { $0.maximumGrams < $1.maximumGrams }
        self.freeOver = freeOver
    }

    /// The charge for a parcel, or nil when the parcel is too heavy for this method.
    public func price(weightGrams: Int64, discountedSubtotal: Int64) -> Int64? {
        let charge: Int64
        if tiers.isEmpty {
            charge = flatAmount
        } else if let tier = tiers.first(where: { weightGrams <= $0.maximumGrams }) {
            charge = tier.amount
        } else {
            return nil
        }
        if let freeOver, discountedSubtotal >= freeOver { return 0 }
        return charge
    }
}
