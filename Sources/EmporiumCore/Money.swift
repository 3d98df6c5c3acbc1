/// An amount of money: a whole number of the currency's minor units (cents for EUR, yen for
/// JPY, fils for KWD). Never a floating point number.
///
/// Arithmetic refuses to mix currencies and refuses to overflow, so a wrong total is an error
/// and never a silently wrong number.
public struct Money: Hashable, Sendable {
    public let minorUnits: Int64
    public let currency: Currency

    public init(minorUnits: Int64, currency: Currency) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    public static func zero(_ currency: Currency) -> Money {
        Money(minorUnits: 0, currency: currency)
    }

    public var isZero: Bool { minorUnits == 0 }
    public var isNegative: Bool { minorUnits < 0 }
}

public enum MoneyError: Error, Equatable, Sendable {
    case currencyMismatch(Currency, Currency)
    case overflow
    case invalidAmount(String)
    case invalidWeights
}

// MARK: Arithmetic

extension Money {
    public func adding(_ other: Money) throws(MoneyError) -> Money {
        try requireSameCurrency(other)
        let (sum, overflow) = minorUnits.addingReportingOverflow(other.minorUnits)
        guard !overflow else { throw .overflow }
        return Money(minorUnits: sum, currency: currency)
    }

    public func subtracting(_ other: Money) throws(MoneyError) -> Money {
        try requireSameCurrency(other)
        let (difference, overflow) = minorUnits.subtractingReportingOverflow(other.minorUnits)
        guard !overflow else { throw .overflow }
        return Money(minorUnits: difference, currency: currency)
    }

    public func multiplied(by factor: Int64) throws(MoneyError) -> Money {
        let (product, overflow) = minorUnits.multipliedReportingOverflow(by: factor)
        guard !overflow else { throw .overflow }
        return Money(minorUnits: product, currency: currency)
    }

    public func negated() throws(MoneyError) -> Money {
        guard minorUnits != .min else { throw .overflow }
        return Money(minorUnits: -minorUnits, currency: currency)
    }

    /// Sums amounts of one currency; the sum of nothing is zero in `currency`.
    public static func sum(_ amounts: some Sequence<Money>, currency: Currency) throws(MoneyError) -> Money {
        var total = Money.zero(currency)
        for amount in amounts { total = try total.adding(amount) }
        return total
    }

    private func requireSameCurrency(_ other: Money) throws(MoneyError) {
        guard currency == other.currency else { throw .currencyMismatch(currency, other.currency) }
    }
}

extension Money: Comparable {
    /// Ordering is only meaningful within one currency; amounts of different currencies are
    /// ordered by currency code so that sorting never traps.
    public static func < (lhs: Money, rhs: Money) -> Bool {
        if lhs.currency != rhs.currency { return lhs.currency.code < rhs.currency.code }
        return lhs.minorUnits < rhs.minorUnits
    }
}

// MARK: Allocation

extension Money {
    /// Splits the amount over `weights` in proportion, so that the parts add up to exactly
    /// this amount: no minor unit is lost or invented. Each part gets the floor of its exact
    /// share; the minor units left over go one each to the parts with the largest remainders
    /// (the earlier part first on a tie). A negative amount is split like its absolute value.
    public func allocated(overWeights weights: [Int64]) throws(MoneyError) -> [Money] {
        guard !weights.isEmpty, weights.allSatisfy({ $0 >= 0 }) else { throw .invalidWeights }
        var weightSum: Int64 = 0
        for weight in weights {
            let (sum, overflow) = weightSum.addingReportingOverflow(weight)
            guard !overflow else { throw .invalidWeights }
            weightSum = sum
        }
        guard weightSum > 0 else { throw .invalidWeights }
        guard minorUnits != .min else { throw .overflow }

        let total = UInt64(abs(minorUnits))
        let divisor = UInt64(weightSum)
        var shares: [UInt64] = []
        var remainders: [UInt64] = []
        shares.reserveCapacity(weights.count)
        remainders.reserveCapacity(weights.count)
        var allocated: UInt64 = 0
        for weight in weights {
            // total * weight can exceed 64 bits; divide the 128-bit product.
            let product = total.multipliedFullWidth(by: UInt64(weight))
            let (share, remainder) = divisor.dividingFullWidth(product)
            shares.append(share)
            remainders.append(remainder)
            allocated += share
        }
        let leftover = Int(total - allocated)
        let order = weights.indices.sorted { lhs, rhs in
            remainders[lhs] != remainders[rhs] ? remainders[lhs] > remainders[rhs] : lhs < rhs
        }
        for index in order.prefix(leftover) { shares[index] += 1 }
        let sign: Int64 = minorUnits < 0 ? -1 : 1
        return shares.map { Money(minorUnits: sign * Int64($0), currency: currency) }
    }
}

// MARK: Decimal text

extension Money {
    /// Parses a plain decimal amount such as "12.34", "-0.5" or "1200" in the currency's
    /// major unit. At most as many fraction digits as the currency has; no exponent, no
    /// thousands separators, no currency symbol, no surrounding spaces.
    public init(parsing text: String, currency: Currency) throws(MoneyError) {
        var digits = Substring(text)
        let negative = digits.first == "-"
        if negative { digits = digits.dropFirst() }
        let parts = digits.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0]
        let fraction = parts.count == 2 ? parts[1] : ""
        func isDigits(_ part: Substring) -> Bool { part.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        guard !whole.isEmpty, isDigits(whole), isDigits(fraction),
            parts.count == 1 || !fraction.isEmpty,
            fraction.count <= currency.minorUnitDigits
        else { throw .invalidAmount(text) }

        let paddedFraction = fraction + String(repeating: "0", count: currency.minorUnitDigits - fraction.count)
        guard let major = Int64(whole), let minor = paddedFraction.isEmpty ? 0 : Int64(paddedFraction) else {
            throw .overflow
        }
        let (scaled, overflowScaling) = major.multipliedReportingOverflow(by: currency.minorUnitsPerMajorUnit)
        let (magnitude, overflowAdding) = scaled.addingReportingOverflow(minor)
        guard !overflowScaling, !overflowAdding else { throw .overflow }
        self.init(minorUnits: negative ? -magnitude : magnitude, currency: currency)
    }

    /// The amount as plain decimal text in the major unit: "12.34", "-0.05", "1200" (JPY),
    /// "1.234" (KWD). `Money(parsing:)` reads it back to the same value.
    public var decimalString: String {
        let digits = currency.minorUnitDigits
        let magnitude = minorUnits.magnitude
        guard digits > 0 else { return String(minorUnits) }
        let factor = UInt64(currency.minorUnitsPerMajorUnit)
        let major = magnitude / factor
        let minor = String(magnitude % factor)
        let padded = String(repeating: "0", count: digits - minor.count) + minor
        return (minorUnits < 0 ? "-" : "") + "\(major).\(padded)"
    }
}

extension Money: CustomStringConvertible {
    public var description: String { "\(decimalString) \(currency.code)" }
}

extension Money: Codable {
    private enum CodingKeys: String, CodingKey {
        case amount
        case currency
    }

    /// JSON shape: `{"amount": 1234, "currency": "EUR"}`, the amount in minor units.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            minorUnits: try container.decode(Int64.self, forKey: .amount),
            currency: try container.decode(Currency.self, forKey: .currency))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(minorUnits, forKey: .amount)
        try container.encode(currency, forKey: .currency)
    }
}
