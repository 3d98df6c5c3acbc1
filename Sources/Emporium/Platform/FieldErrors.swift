import EmporiumCore
import Foundation

/// A request body with rules beyond its JSON shape: ranges, formats, members that go
/// together. `Request.decodeJSON` runs them with the shape check, so that one answer lists a
/// wrong type, a missing member and a value out of range alike. Rules that need the database
/// (does this id name something?) stay with the service.
protocol CheckedBody {
    func check(into errors: inout FieldErrors)
}

/// Collects what is wrong with a request body, each problem at its JSON pointer, so that a
/// client learns every mistake in one answer.
struct FieldErrors {
    private(set) var all: [Problem.FieldError] = []

    mutating func add(_ pointer: String, _ problem: String?) {
        if let problem { all.append(.init(pointer: pointer, detail: problem)) }
    }

    mutating func add(_ errors: [Problem.FieldError]) {
        all += errors
    }

    /// The value, or nil with "is required" noted.
    mutating func required<Value>(_ value: Value?, _ pointer: String) -> Value? {
        if value == nil { add(pointer, "is required") }
        return value
    }

    mutating func text(_ value: String?, _ pointer: String, maximum: Int, required: Bool = true) {
        guard let value else {
            if required { add(pointer, "is required") }
            return
        }
        add(pointer, CatalogRules.textProblem(value, maximum: maximum, required: required))
    }

    /// Money in minor units: zero up to a trillion.
    mutating func amount(_ value: Int64?, _ pointer: String) {
        if let value, !(0...Self.largestAmount).contains(value) { add(pointer, "must be 0 to \(Self.largestAmount) minor units") }
    }

    mutating func currency(_ code: String?, _ pointer: String) -> Currency? {
        guard let code = required(code, pointer) else { return nil }
        guard let currency = Currency(code: code) else {
            add(pointer, "must be an ISO 4217 code in upper case, e.g. EUR")
            return nil
        }
        return currency
    }

    mutating func country(_ code: String, _ pointer: String) {
        if CountryCode(code) == nil { add(pointer, "must be an ISO 3166-1 alpha-2 code such as DE or US") }
    }

    /// A whole number in `range`, if given.
    mutating func number(_ value: Int64?, _ pointer: String, in range: ClosedRange<Int64>) {
        if let value, !range.contains(value) { add(pointer, "must be \(range.lowerBound) to \(range.upperBound)") }
    }

    func check() throws {
        if !all.isEmpty { throw Problem.validation(all) }
    }

    /// Keeps the field errors of a rule written as "build the value or throw the validation
    /// problem", so that such a rule can serve as a `CheckedBody` check as it is.
    mutating func collect(_ rule: () throws -> Void) {
        do {
            try rule()
        } catch let problem as Problem {
            all += problem.errors
        } catch {}
    }

    static let largestAmount: Int64 = 1_000_000_000_000
}

/// `{"currency": "EUR", "amount": 500}`: an amount in one currency, as request bodies give it.
struct CurrencyAmount: Codable, Sendable, Equatable {
    var currency: String
    var amount: Int64

    /// Checks a list of these: known currencies, each once, amounts in range.
    static func check(_ list: [CurrencyAmount], at pointer: String, into errors: inout FieldErrors) {
        var seen = Set<String>()
        for (index, item) in list.enumerated() {
            if errors.currency(item.currency, "\(pointer)/\(index)/currency") != nil, !seen.insert(item.currency).inserted {
                errors.add("\(pointer)/\(index)/currency", "must not repeat a currency")
            }
            errors.amount(item.amount, "\(pointer)/\(index)/amount")
        }
    }
}
