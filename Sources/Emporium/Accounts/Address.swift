import EmporiumCore
import Foundation

/// A postal address in a customer's address book.
struct Address: Sendable, Equatable {
    let id: ID<Address>
    let userID: ID<User>
    var fields: AddressFields
    let createdAt: Date
    var updatedAt: Date
}

/// What a customer writes about an address. Street lines and the phone number are personal
/// data and are stored encrypted; city, region, postal code and country stay readable for
/// shipping and tax.
struct AddressFields: Sendable, Equatable, Codable {
    var recipient: String
    var line1: String
    var line2: String?
    var city: String
    var region: String?
    var postalCode: String?
    var country: String
    var phone: String?

    enum CodingKeys: String, CodingKey {
        case recipient, line1, line2, city, region, country, phone
        case postalCode = "postal_code"
    }

    /// Trims every field and turns empty optional ones into nil.
    func normalized() -> AddressFields {
        func trim(_ text: String) -> String { text.trimmingCharacters(in: .whitespacesAndNewlines) }
        func optional(_ text: String?) -> String? { text.map(trim).flatMap { $0.isEmpty ? nil : $0 } }
        return AddressFields(
            recipient: trim(recipient), line1: trim(line1), line2: optional(line2), city: trim(city),
            region: optional(region), postalCode: optional(postalCode), country: trim(country).uppercased(),
            phone: optional(phone).map { $0.filter { !$0.isWhitespace && $0 != "-" && $0 != "(" && $0 != ")" } })
    }

    /// Every rule an address must meet, each broken one with its JSON pointer.
    func problems() -> [Problem.FieldError] {
        var errors: [Problem.FieldError] = []
        func check(_ value: String?, _ pointer: String, required: Bool, maximum: Int) {
            guard let value else {
                if required { errors.append(.init(pointer: pointer, detail: "is required")) }
                return
            }
            if required, value.isEmpty {
                errors.append(.init(pointer: pointer, detail: "must not be empty"))
            } else if value.count > maximum {
                errors.append(.init(pointer: pointer, detail: "must be at most \(maximum) characters"))
            } else if value.unicodeScalars.contains(where: { $0.value < 0x20 }) {
                errors.append(.init(pointer: pointer, detail: "must not contain control characters"))
            }
        }
        check(recipient, "/recipient", required: true, maximum: 100)
        check(line1, "/line1", required: true, maximum: 200)
        check(line2, "/line2", required: false, maximum: 200)
        check(city, "/city", required: true, maximum: 100)
        check(region, "/region", required: false, maximum: 100)
        check(postalCode, "/postal_code", required: false, maximum: 20)
        if CountryCode(country) == nil {
            errors.append(.init(pointer: "/country", detail: "must be an ISO 3166-1 alpha-2 code such as DE or US"))
        }
        if let phone, !Self.isPhoneNumber(phone) {
            errors.append(.init(pointer: "/phone", detail: "must be an international number such as +4930123456"))
        }
        return errors
    }

    /// E.164: a plus and 7 to 15 digits.
    static func isPhoneNumber(_ text: String) -> Bool {
        text.first == "+" && (7...15).contains(text.count - 1) && text.dropFirst().allSatisfy(\.isASCII)
            && text.dropFirst().allSatisfy(\.isNumber)
    }
}

/// A change to some fields of an address; absent members stay as they are, `null` clears an
/// optional one.
struct AddressPatch: Decodable {
    var recipient: String?
    var line1: String?
    var line2: String??
    var city: String?
    var region: String??
    var postalCode: String??
    var country: String?
    var phone: String??

    enum CodingKeys: String, CodingKey {
        case recipient, line1, line2, city, region, country, phone
        case postalCode = "postal_code"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        recipient = try container.decodeIfPresent(String.self, forKey: .recipient)
        line1 = try container.decodeIfPresent(String.self, forKey: .line1)
        city = try container.decodeIfPresent(String.self, forKey: .city)
        country = try container.decodeIfPresent(String.self, forKey: .country)
        func clearable(_ key: CodingKeys) throws -> String?? {
            container.contains(key) ? .some(try container.decodeIfPresent(String.self, forKey: key)) : .none
        }
        line2 = try clearable(.line2)
        region = try clearable(.region)
        postalCode = try clearable(.postalCode)
        phone = try clearable(.phone)
    }

    func applied(to fields: AddressFields) -> AddressFields {
        var result = fields
        if let recipient { result.recipient = recipient }
        if let line1 { result.line1 = line1 }
        if let line2 { result.line2 = line2 }
        if let city { result.city = city }
        if let region { result.region = region }
        if let postalCode { result.postalCode = postalCode }
        if let country { result.country = country }
        if let phone { result.phone = phone }
        return result
    }
}

extension AddressFields: CheckedBody {
    func check(into errors: inout FieldErrors) {
        errors.add(normalized().problems())
    }
}
