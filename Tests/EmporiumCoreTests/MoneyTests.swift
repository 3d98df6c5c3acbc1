import EmporiumCore
import Foundation
import Testing

@Suite struct CurrencyTests {
    @Test(arguments: [("EUR", 2), ("USD", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("CLF", 4)])
    func minorUnitDigits(code: String, digits: Int) throws {
        #expect(try #require(Currency(code: code)).minorUnitDigits == digits)
    }

    @Test(arguments: ["", "EU", "EURO", "eur", "XYZ", "E1R", "€", "EUR "])
    func rejectsWhatIsNotAnActiveCode(code: String) {
        #expect(Currency(code: code) == nil)
    }

    @Test func decodesFromJSONAndRejectsUnknownCodes() throws {
        let decoded = try JSONDecoder().decode([Currency].self, from: Data(#"["EUR","JPY"]"#.utf8))
        #expect(decoded == [.eur, .jpy])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([Currency].self, from: Data(#"["ABC"]"#.utf8)) }
    }
}

@Suite struct MoneyArithmeticTests {
    let euros = { (cents: Int64) in Money(minorUnits: cents, currency: .eur) }

    @Test func addsAndSubtractsWithinOneCurrency() throws {
        #expect(try euros(1050).adding(euros(250)) == euros(1300))
        #expect(try euros(100).subtracting(euros(250)) == euros(-150))
        #expect(try euros(333).multiplied(by: 3) == euros(999))
        #expect(try euros(5).negated() == euros(-5))
        #expect(try Money.sum([euros(1), euros(2), euros(3)], currency: .eur) == euros(6))
        #expect(try Money.sum([], currency: .jpy) == .zero(.jpy))
    }

    @Test func refusesToMixCurrencies() {
        let yen = Money(minorUnits: 100, currency: .jpy)
        #expect(throws: MoneyError.currencyMismatch(.eur, .jpy)) { try euros(100).adding(yen) }
        #expect(throws: MoneyError.currencyMismatch(.eur, .jpy)) { try euros(100).subtracting(yen) }
        #expect(throws: MoneyError.currencyMismatch(.eur, .jpy)) { try Money.sum([euros(1), yen], currency: .eur) }
    }

    @Test func refusesToOverflow() {
        #expect(throws: MoneyError.overflow) { try euros(.max).adding(euros(1)) }
        #expect(throws: MoneyError.overflow) { try euros(.min).subtracting(euros(1)) }
        #expect(throws: MoneyError.overflow) { try euros(.max / 2 + 1).multiplied(by: 2) }
        #expect(throws: MoneyError.overflow) { try euros(.min).negated() }
    }
}

@Suite struct MoneyAllocationTests {
    @Test func splitsEvenlyWhenItCan() throws {
        let parts = try Money(minorUnits: 900, currency: .eur).allocated(overWeights: [1, 1, 1])
        #expect(parts.map(\.minorUnits) == [300, 300, 300])
    }

    @Test func givesLeftoverUnitsToLargestRemaindersThenEarliest() throws {
        #expect(try Money(minorUnits: 100, currency: .eur).allocated(overWeights: [1, 1, 1]).map(\.minorUnits) == [34, 33, 33])
        // Exact shares 1.4, 2.8, 5.8: floors 1, 2, 5 leave 2 units, for the remainders .8 and .8.
        #expect(try Money(minorUnits: 10, currency: .eur).allocated(overWeights: [14, 28, 58]).map(\.minorUnits) == [1, 3, 6])
        #expect(try Money(minorUnits: -100, currency: .eur).allocated(overWeights: [1, 1, 1]).map(\.minorUnits) == [-34, -33, -33])
        #expect(try Money(minorUnits: 5, currency: .jpy).allocated(overWeights: [0, 1]).map(\.minorUnits) == [0, 5])
    }

    @Test func neverLosesOrInventsAUnit() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let amount = Int64.random(in: -1_000_000_000...1_000_000_000, using: &generator)
            let weights = (0..<Int.random(in: 1...12, using: &generator)).map { _ in Int64.random(in: 0...10_000, using: &generator) }
            guard weights.contains(where: { $0 > 0 }) else { continue }
            let parts = try Money(minorUnits: amount, currency: .usd).allocated(overWeights: weights)
            #expect(parts.count == weights.count)
            #expect(parts.reduce(0) { $0 + $1.minorUnits } == amount)
            for (part, weight) in zip(parts, weights) where weight == 0 { #expect(part.minorUnits == 0) }
        }
    }

    @Test func handlesAmountsWhoseProductWithAWeightOverflows64Bits() throws {
        let parts = try Money(minorUnits: .max, currency: .eur).allocated(overWeights: [.max / 2, .max / 2])
        #expect(parts.reduce(0 as Int64) { $0 &+ $1.minorUnits } == .max)
    }

    @Test(arguments: [[], [0, 0], [-1, 2]] as [[Int64]])
    func rejectsUnusableWeights(weights: [Int64]) {
        #expect(throws: MoneyError.invalidWeights) { try Money(minorUnits: 100, currency: .eur).allocated(overWeights: weights) }
    }
}

@Suite struct MoneyTextTests {
    @Test(arguments: [
        ("12.34", "EUR", 1234), ("12.3", "EUR", 1230), ("12", "EUR", 1200), ("0.05", "EUR", 5), ("-0.05", "EUR", -5),
        ("1200", "JPY", 1200), ("1.234", "KWD", 1234), ("007.10", "USD", 710), ("92233720368547758.07", "EUR", Int64.max),
    ] as [(String, String, Int64)])
    func parses(text: String, code: String, minorUnits: Int64) throws {
        let currency = try #require(Currency(code: code))
        #expect(try Money(parsing: text, currency: currency) == Money(minorUnits: minorUnits, currency: currency))
    }

    @Test(arguments: [
        ("", "EUR"), ("-", "EUR"), (".5", "EUR"), ("1.", "EUR"), ("1.234", "EUR"), ("1.5", "JPY"), ("1e3", "EUR"),
        ("+1", "EUR"), (" 1", "EUR"), ("1,00", "EUR"), ("1.2.3", "EUR"), ("€1", "EUR"), ("١٢", "EUR"), ("--1", "EUR"),
    ])
    func rejectsWhatIsNotAPlainAmount(text: String, code: String) throws {
        let currency = try #require(Currency(code: code))
        #expect(throws: MoneyError.invalidAmount(text)) { try Money(parsing: text, currency: currency) }
    }

    @Test func rejectsAmountsBeyondRange() {
        #expect(throws: MoneyError.overflow) { try Money(parsing: "92233720368547758.08", currency: .eur) }
        #expect(throws: MoneyError.overflow) { try Money(parsing: String(repeating: "9", count: 40), currency: .eur) }
    }

    @Test(arguments: [
        (1234, "EUR", "12.34"), (5, "EUR", "0.05"), (-5, "EUR", "-0.05"), (-1234, "EUR", "-12.34"), (0, "EUR", "0.00"),
        (1200, "JPY", "1200"), (-7, "JPY", "-7"), (1234, "KWD", "1.234"), (Int64.min, "EUR", "-92233720368547758.08"),
    ] as [(Int64, String, String)])
    func formats(minorUnits: Int64, code: String, text: String) throws {
        let currency = try #require(Currency(code: code))
        #expect(Money(minorUnits: minorUnits, currency: currency).decimalString == text)
    }

    @Test func formattingThenParsingGivesTheSameAmount() throws {
        for currency in [Currency.eur, .jpy, .kwd] {
            for _ in 0..<500 {
                let money = Money(minorUnits: .random(in: -10_000_000_000...10_000_000_000), currency: currency)
                #expect(try Money(parsing: money.decimalString, currency: currency) == money)
            }
        }
    }

    @Test func encodesAsMinorUnitsAndCurrency() throws {
        let json = try JSONEncoder().encode(Money(minorUnits: 1999, currency: .eur))
        let object = try JSONSerialization.jsonObject(with: json) as? [String: Any]
        #expect(object?["amount"] as? Int == 1999)
        #expect(object?["currency"] as? String == "EUR")
        #expect(try JSONDecoder().decode(Money.self, from: json) == Money(minorUnits: 1999, currency: .eur))
    }
}
