/// An ISO 4217 currency: its alphabetic code and the number of digits after the decimal
/// separator in its minor unit (EUR 2, JPY 0, KWD 3).
///
/// Only codes in the active ISO 4217 list are accepted, so a typo such as "EUE" is rejected
/// at the edge instead of becoming a price nobody can pay.
public struct Currency: Hashable, Sendable, CustomStringConvertible {
    public let code: String
    public let minorUnitDigits: Int

    /// Creates the currency for an ISO 4217 code; `nil` when the code is not an active one.
    /// The code must be given in upper case, as ISO 4217 writes it.
    public init?(code: String) {
        guard let digits = Currency.minorUnitDigits(of: code) else { return nil }
        self.code = code
        self.minorUnitDigits = digits
    }

    public var description: String { code }

    /// 10^minorUnitDigits: how many minor units make one major unit.
    public var minorUnitsPerMajorUnit: Int64 {
        var factor: Int64 = 1
        for _ in 0..<minorUnitDigits { factor *= 10 }
        return factor
    }

    static func minorUnitDigits(of code: String) -> Int? {
        guard code.utf8.count == 3, code.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else { return nil }
        if let digits = exceptions[code] { return digits }
        return twoDigitCodes.contains(code) ? 2 : nil
    }

    /// Active codes whose minor unit is not two digits (ISO 4217 list one).
    private static let exceptions: [String: Int] = [
        // no minor unit
        "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
        "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
        // three digits
        "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
        // four digits
        "CLF": 4, "UYW": 4,
    ]

    /// Active codes with a two-digit minor unit.
    private static let twoDigitCodes: Set<String> = [
        "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
        "BGN", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
        "CDF", "CHE", "CHF", "CHW", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DKK",
        "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP",
        "GMD", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD",
        "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD",
        "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV",
        "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP",
        "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD",
        "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT",
        "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "USN", "UYU", "UZS", "VED", "VES",
        "WST", "XCD", "XCG", "YER", "ZAR", "ZMW", "ZWG",
    ]
}

extension Currency: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let code = try container.decode(String.self)
        guard let currency = Currency(code: code) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "not an ISO 4217 currency code")
        }
        self = currency
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(code)
    }
}

extension Currency {
    public static let eur = Currency(code: "EUR")!
    public static let usd = Currency(code: "USD")!
    public static let jpy = Currency(code: "JPY")!
    public static let kwd = Currency(code: "KWD")!
}
