/// A tax rate in parts per million: 19 % is 190_000, New York City's 8.875 % is 88_750.
/// Integer millionths keep every rate a shop meets exact, where a `Double` would not.
public struct TaxRate: Hashable, Sendable, CustomStringConvertible {
    public let partsPerMillion: Int64

    public init?(partsPerMillion: Int64) {
        guard (0...1_000_000).contains(partsPerMillion) else { return nil }
        self.partsPerMillion = partsPerMillion
    }

    public var description: String {
        let whole = partsPerMillion / 10_000
        var fraction = String(partsPerMillion % 10_000)
        fraction = String(repeating: "0", count: 4 - fraction.count) + fraction
        while fraction.last == "0" { fraction.removeLast() }
        return fraction.isEmpty ? "\(whole)%" : "\(whole).\(fraction)%"
    }
}

/// The one rounding rule for tax (DESIGN §4): computed per line and per shipping charge,
/// rounded half to even to the currency's minor unit, so that many lines do not drift
/// upwards the way half-up rounding does.
public enum Tax {
    /// Tax on a net amount: `amount × rate`.
    public static func onNet(_ amount: Money, rate: TaxRate) throws(MoneyError) -> Money {
        Money(
            minorUnits: try divideHalfEven(amount.minorUnits, times: rate.partsPerMillion, by: 1_000_000),
            currency: amount.currency)
    }

    /// The tax contained in a gross (tax-inclusive) amount: `amount × rate / (1 + rate)`.
    public static func includedIn(_ amount: Money, rate: TaxRate) throws(MoneyError) -> Money {
        Money(
            minorUnits: try divideHalfEven(amount.minorUnits, times: rate.partsPerMillion, by: 1_000_000 + rate.partsPerMillion),
            currency: amount.currency)
    }

    /// `value × factor / divisor` rounded half to even, with a 128-bit intermediate so that
    /// no product overflows; throws when the result does not fit in 64 bits.
    static func divideHalfEven(_ value: Int64, times factor: Int64, by divisor: Int64) throws(MoneyError) -> Int64 {
        precondition(divisor > 0 && factor >= 0)
        let negative = value < 0
        let product = value.magnitude.multipliedFullWidth(by: factor.magnitude)
        guard product.high < divisor.magnitude else { throw .overflow }
        let (quotient, remainder) = divisor.magnitude.dividingFullWidth(product)
        var rounded = quotient
        let twice = remainder.multipliedReportingOverflow(by: 2)
        if twice.overflow || twice.partialValue > divisor.magnitude
            || (twice.partialValue == divisor.magnitude && quotient % 2 == 1)
        {
            rounded += 1
        }
        guard rounded <= UInt64(Int64.max) else { throw .overflow }
        return negative ? -Int64(rounded) : Int64(rounded)
    }
}
