import AsyncHTTPClient
import EmporiumCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Why a carrier call gave nothing usable.
enum CarrierFailure: Error, Equatable, CustomStringConvertible {
    /// No answer within the time allowed, or no connection.
    case timeout
    /// A 5xx, 429 or an answer this code cannot read: worth trying again later.
    case unavailable(String)
    /// A 4xx: the carrier refuses this request as it is (a bad address, an unknown service).
    case refused(String)

    var description: String {
        switch self {
        case .timeout: "no answer in time"
        case .unavailable(let reason): "unavailable: \(reason)"
        case .refused(let reason): "refused: \(reason)"
        }
    }

    /// The metrics label of the outcome.
    var outcome: String {
        switch self {
        case .timeout: "timeout"
        case .unavailable: "error"
        case .refused: "refused"
        }
    }
}

/// A label the carrier sold for a parcel.
struct CarrierLabel: Sendable, Equatable {
    let id: String
    let trackingNumber: String
    let labelURL: String?
    let carrier: String?
}

/// The carrier adapter: Emporium's carrier wire format (docs/integrations.md#carrier-rates)
/// over HTTP(S) with a bearer key. `POST /v1/rates` prices a parcel; `POST /v1/labels` buys a
/// label, with an `Idempotency-Key` from our fulfilment id so that a repeated purchase
/// returns the first label instead of a second one.
final class CarrierClient: RateProvider {
    private let http: OutboundHTTPClient
    private let base: String
    private let apiKey: String
    private let logger: Logger

    init(base: String, apiKey: String, timeout: TimeInterval, logger: Logger) {
        self.base = base
        self.apiKey = apiKey
        self.logger = logger
        http = OutboundHTTPClient(timeout: timeout)
    }


    // MARK: RateProvider

    func rates(for request: RateRequest) async throws -> [RateOffer] {
        guard let parcel = request.parcel else { return [] }
        let body = RatesBody(shipment: Shipment(parcel), currency: request.cart.currency.code)
        let answer = try await call("/v1/rates", body, idempotencyKey: nil, as: RatesAnswer.self)
        return answer.rates.compactMap { rate in
            // Only what can be charged as it is: the cart's currency, a sane amount.
            guard let currency = Currency(code: rate.currency.uppercased()), currency == request.cart.currency,
                (0...FieldErrors.largestAmount).contains(rate.amount), !rate.id.isEmpty, rate.id.count <= 200,
                !rate.service.isEmpty, rate.service.count <= 100
            else {
                logger.notice("Carrier rate skipped", metadata: ["service": "\(rate.service)", "currency": "\(rate.currency)"])
                return nil
            }
            return RateOffer(
                source: .carrier(rateID: rate.id, service: rate.service, expiresAt: rate.expiresAt.flatMap(Timestamp.date(from:))),
                name: String((rate.name ?? rate.service).prefix(100)), amount: rate.amount, currency: currency,
                estimatedDays: rate.estimatedDays)
        }
    }

    // MARK: Labels

    func buyLabel(service: String, parcel: Parcel, reference: String, idempotencyKey: String) async throws(CarrierFailure) -> CarrierLabel {
        let body = LabelBody(service: service, shipment: Shipment(parcel), reference: reference)
        let label = try await call("/v1/labels", body, idempotencyKey: idempotencyKey, as: LabelAnswer.self)
        guard !label.trackingNumber.isEmpty, label.trackingNumber.count <= 100 else {
            throw .unavailable("the label has no usable tracking number")
        }
        return CarrierLabel(
            id: String(label.id.prefix(200)), trackingNumber: label.trackingNumber, labelURL: label.labelURL.map { String($0.prefix(2000)) },
            carrier: label.carrier.map { String($0.prefix(100)) })
    }

    // MARK: Calls

    private func call<Body: Encodable, Answer: Decodable>(
        _ path: String, _ body: Body, idempotencyKey: String?, as: Answer.Type
    ) async throws(CarrierFailure) -> Answer {
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        request.headers.add(name: "authorization", value: "Bearer \(apiKey)")
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "Emporium")
        if let idempotencyKey { request.headers.add(name: "idempotency-key", value: idempotencyKey) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard let data = try? encoder.encode(body) else { throw .refused("the request could not be encoded") }
        request.body = .bytes(ByteBuffer(bytes: data))
        let status: Int
        let answer: ByteBuffer
        let span = OutgoingCallSpan.start("POST carrier \(path)", peer: URLHost.of(base), system: "carrier")
        defer { span.end() }
        span.propagate(into: &request.headers)
        do {
            let response = try await http.client.execute(request, timeout: http.timeout)
            status = Int(response.status.code)
            span.answered(status: status)
            answer = try await response.body.collect(upTo: 1 << 20)
        } catch {
            span.failed(error)
            logger.notice("Carrier did not answer", metadata: ["path": "\(path)", "error": "\(error)"])
            throw .timeout
        }
        let bytes = Data(answer.readableBytesView)
        guard (200..<300).contains(status) else {
            let message = (try? JSONDecoder().decode(ErrorAnswer.self, from: bytes)).map { "\($0.error.code ?? "error"): \($0.error.message ?? "")" }
                ?? "status \(status)"
            logger.notice("Carrier refused a call", metadata: ["path": "\(path)", "status": "\(status)"])
            if status >= 500 || status == 429 || status == 409 || status == 401 || status == 403 {
                throw .unavailable(message)
            }
            throw .refused(message)
        }
        do {
            return try JSONDecoder().decode(Answer.self, from: bytes)
        } catch {
            logger.error("Carrier answered with an object this code cannot read", metadata: ["path": "\(path)"])
            throw .unavailable("an answer this code cannot read")
        }
    }

    // MARK: The wire format

    struct Address: Codable, Sendable {
        let country: String
        let region: String?
        let postalCode: String?
        let city: String
        let line1: String
        let line2: String?
        let recipient: String
        let phone: String?

        enum CodingKeys: String, CodingKey {
            case country, region, city, line1, line2, recipient, phone
            case postalCode = "postal_code"
        }
    }

    struct ParcelBody: Codable, Sendable {
        let weightGrams: Int64
        let lengthMM: Int64?
        let widthMM: Int64?
        let heightMM: Int64?

        enum CodingKeys: String, CodingKey {
            case weightGrams = "weight_grams"
            case lengthMM = "length_mm"
            case widthMM = "width_mm"
            case heightMM = "height_mm"
        }
    }

    struct Origin: Codable, Sendable {
        let locationCode: String
        let name: String

        enum CodingKeys: String, CodingKey {
            case name
            case locationCode = "location_code"
        }
    }

    struct Shipment: Codable, Sendable {
        let origin: Origin?
        let destination: Address
        let parcel: ParcelBody

        init(_ parcel: Parcel) {
            origin = parcel.origin.map { Origin(locationCode: $0.code, name: $0.name) }
            let to = parcel.destination
            destination = Address(
                country: to.country, region: to.region, postalCode: to.postalCode, city: to.city, line1: to.line1, line2: to.line2,
                recipient: to.recipient, phone: to.phone)
            self.parcel = ParcelBody(
                weightGrams: parcel.weightGrams, lengthMM: parcel.dimensions?.lengthMM, widthMM: parcel.dimensions?.widthMM,
                heightMM: parcel.dimensions?.heightMM)
        }
    }

    struct RatesBody: Codable, Sendable {
        let shipment: Shipment
        let currency: String
    }

    struct Rate: Codable, Sendable {
        let id: String
        let service: String
        let name: String?
        let amount: Int64
        let currency: String
        let estimatedDays: Int64?
        let expiresAt: String?

        enum CodingKeys: String, CodingKey {
            case id, service, name, amount, currency
            case estimatedDays = "estimated_days"
            case expiresAt = "expires_at"
        }
    }

    struct RatesAnswer: Codable, Sendable {
        let rates: [Rate]
    }

    struct LabelBody: Codable, Sendable {
        let service: String
        let shipment: Shipment
        let reference: String
    }

    struct LabelAnswer: Codable, Sendable {
        let id: String
        let trackingNumber: String
        let labelURL: String?
        let carrier: String?

        enum CodingKeys: String, CodingKey {
            case id, carrier
            case trackingNumber = "tracking_number"
            case labelURL = "label_url"
        }
    }

    struct ErrorAnswer: Codable, Sendable {
        struct Detail: Codable, Sendable {
            let code: String?
            let message: String?
        }

        let error: Detail
    }
}
