import EmporiumCore
import Testing

@Suite struct TaxTests {
    func money(_ minorUnits: Int64, _ code: String = "EUR") -> Money {
        Money(minorUnits: minorUnits, currency: Currency(code: code)!)
    }

    /// Worked examples: net amount, rate in millionths, expected tax in minor units.
    @Test(arguments: [
        (1000 as Int64, 190_000 as Int64, "EUR", 190 as Int64),  // 19 % of 10.00 = 1.90
        (5, 190_000, "EUR", 1),  // 0.0095 rounds to 0.01
        (25, 100_000, "EUR", 2),  // 0.025: a tie, to the even 0.02
        (35, 100_000, "EUR", 4),  // 0.035: a tie, to the even 0.04
        (15, 100_000, "EUR", 2),  // 0.015: a tie, to the even 0.02
        (1999, 88_750, "USD", 177),  // 8.875 % of 19.99 = 1.7741…
        (105, 100_000, "JPY", 10),  // ¥10.5: a tie, to the even ¥10
        (115, 100_000, "JPY", 12),  // ¥11.5: a tie, to the even ¥12
        (1234, 50_000, "KWD", 62),  // 5 % of 1.234 KWD = 0.0617
        (-2500, 100_000, "EUR", -250),  // refunds and discounts are negative lines
        (-25, 100_000, "EUR", -2),
        (999, 0, "EUR", 0),
    ])
    func taxOnNetAmounts(net: Int64, rate: Int64, currency: String, expected: Int64) throws {
        let tax = try Tax.onNet(money(net, currency), rate: TaxRate(partsPerMillion: rate)!)
        #expect(tax == money(expected, currency))
    }

    /// Gross amount, rate, tax contained in it.
    @Test(arguments: [
        (1190 as Int64, 190_000 as Int64, 190 as Int64),  // 11.90 gross at 19 % holds 1.90
        (1000, 190_000, 160),  // 10.00 × 0.19 / 1.19 = 1.5966…
        (100, 200_000, 17),  // 1.00 × 0.2 / 1.2 = 0.1666…
        (2100, 50_000, 100),  // 21.00 at 5 %: exactly 1.00
        (1, 190_000, 0),
    ])
    func taxIncludedInGrossAmounts(gross: Int64, rate: Int64, expected: Int64) throws {
        #expect(try Tax.includedIn(money(gross), rate: TaxRate(partsPerMillion: rate)!) == money(expected))
    }

    @Test func halfEvenDoesNotDriftUpwardOverManyTies() throws {
        // 100 lines of 0.05 at 10 %: each 0.005 is a tie; half-up would add 0.50, half-even
        // alternates and stays at the true total of 0.50 ± rounding of the evens.
        let rate = TaxRate(partsPerMillion: 100_000)!
        var total: Int64 = 0
        for cents in stride(from: Int64(5), through: 995, by: 10) {
            total += try Tax.onNet(money(cents), rate: rate).minorUnits
        }
        // Exact sum: 10 % of (5 + 15 + … + 995) cents = 10 % of 50000 = 5000.
        #expect(total == 5000)
    }

    @Test func theLargestAmountsStayExact() throws {
        // Rates are at most 100 %, so tax never exceeds its amount and cannot overflow.
        let all = TaxRate(partsPerMillion: 1_000_000)!
        #expect(try Tax.onNet(money(Int64.max), rate: all) == money(Int64.max))
        #expect(try Tax.onNet(money(-Int64.max), rate: all) == money(-Int64.max))
        #expect(try Tax.includedIn(money(Int64.max), rate: all) == money(Int64.max / 2 + 1))
    }

    @Test func ratesAreBoundedAndPrintAsPercentages() {
        #expect(TaxRate(partsPerMillion: -1) == nil && TaxRate(partsPerMillion: 1_000_001) == nil)
        #expect(TaxRate(partsPerMillion: 88_750)?.description == "8.875%")
        #expect(TaxRate(partsPerMillion: 190_000)?.description == "19%")
        #expect(TaxRate(partsPerMillion: 5)?.description == "0.0005%")
    }
}
