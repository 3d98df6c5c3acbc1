import EmporiumCore
import Testing

@Suite struct PricingTests {
    let eur = Currency.eur
    let standard = TaxRate(partsPerMillion: 190_000)!

    @Test func taxExclusiveCartAddsUp() throws {
        // 2 × 12.50 + 1 × 3.99, 10 % off, 4.90 shipping, 19 % tax.
        let priced = try Pricing.price(
            [.init(unitPrice: 1250, quantity: 2), .init(unitPrice: 399, quantity: 1)], currency: eur,
            discount: .percentage(partsPerMillion: 100_000), shipping: 490, taxRate: standard, taxIncluded: false)
        #expect(priced.subtotal == 2899)
        // 10 % of 28.99 = 2.899 → 2.90; shared 2500 : 399 → 2.50 and 0.40.
        #expect(priced.discount == 290)
        #expect(priced.lines.map(\.discount) == [250, 40])
        // Line tax: 19 % of 22.50 = 4.275 → 4.28 (tie? no: 4.275 exactly is a tie → 4.28 even); 19 % of 3.59 = 0.6821 → 0.68.
        #expect(priced.lines.map(\.tax) == [428, 68])
        // Shipping: 19 % of 4.90 = 0.931 → 0.93.
        #expect(priced.shippingTax == 93)
        #expect(priced.tax == 428 + 68 + 93)
        #expect(priced.total == priced.subtotal - priced.discount + priced.shipping + priced.tax)
        #expect(priced.total == 3688)
    }

    @Test func taxIncludedPricesCarryTheirTaxInside() throws {
        // 11.90 gross at 19 % holds 1.90; shipping 5.95 holds 0.95.
        let priced = try Pricing.price(
            [.init(unitPrice: 1190, quantity: 1)], currency: eur, discount: nil, shipping: 595, taxRate: standard,
            taxIncluded: true)
        #expect(priced.tax == 190 + 95)
        #expect(priced.total == 1190 + 595)
        #expect(priced.total == priced.subtotal - priced.discount + priced.shipping)
    }

    @Test func fixedDiscountsNeverExceedTheSubtotalAndSharesAddUp() throws {
        let priced = try Pricing.price(
            [.init(unitPrice: 100, quantity: 1), .init(unitPrice: 100, quantity: 1), .init(unitPrice: 100, quantity: 1)],
            currency: eur, discount: .fixed(100), shipping: 0, taxRate: nil, taxIncluded: false)
        #expect(priced.lines.map(\.discount).reduce(0, +) == 100)
        #expect(priced.lines.map(\.discount) == [34, 33, 33])
        let capped = try Pricing.price(
            [.init(unitPrice: 500, quantity: 1)], currency: eur, discount: .fixed(10_000), shipping: 300, taxRate: standard,
            taxIncluded: false)
        #expect(capped.discount == 500)
        #expect(capped.total == 300 + 57)
    }

    @Test func percentageDiscountRoundsHalfToEven() throws {
        // 15 % of 0.10 = 0.015 → 0.02; 15 % of 0.30 = 0.045 → 0.04.
        let first = try Pricing.price([.init(unitPrice: 10, quantity: 1)], currency: eur, discount: .percentage(partsPerMillion: 150_000), shipping: 0, taxRate: nil, taxIncluded: false)
        let second = try Pricing.price([.init(unitPrice: 30, quantity: 1)], currency: eur, discount: .percentage(partsPerMillion: 150_000), shipping: 0, taxRate: nil, taxIncluded: false)
        #expect(first.discount == 2)
        #expect(second.discount == 4)
    }

    @Test func yenHasNoMinorUnits() throws {
        // ¥1,105 at 10 % = ¥110.5, a tie → ¥110.
        let priced = try Pricing.price([.init(unitPrice: 1105, quantity: 1)], currency: .jpy, discount: nil, shipping: 0, taxRate: TaxRate(partsPerMillion: 100_000)!, taxIncluded: false)
        #expect(priced.tax == 110)
        #expect(priced.total == 1215)
    }

    @Test func overflowIsAnErrorNotAWrap() {
        #expect(throws: MoneyError.overflow) {
            try Pricing.price([.init(unitPrice: Int64.max / 2, quantity: 3)], currency: eur, discount: nil, shipping: 0, taxRate: nil, taxIncluded: false)
        }
    }

    @Test func shippingRulesPickTheTierAndGoFreeOverTheThreshold() {
        let rule = ShippingRule(flatAmount: 0, tiers: [.init(maximumGrams: 5000, amount: 990), .init(maximumGrams: 1000, amount: 490)], freeOver: 5000)
        #expect(rule.price(weightGrams: 800, discountedSubtotal: 1000) == 490)
        #expect(rule.price(weightGrams: 1000, discountedSubtotal: 1000) == 490)
        #expect(rule.price(weightGrams: 1001, discountedSubtotal: 1000) == 990)
        #expect(rule.price(weightGrams: 5001, discountedSubtotal: 1000) == nil)
        #expect(rule.price(weightGrams: 800, discountedSubtotal: 5000) == 0)
        #expect(ShippingRule(flatAmount: 450, tiers: [], freeOver: nil).price(weightGrams: 99_999, discountedSubtotal: 10) == 450)
    }
}
