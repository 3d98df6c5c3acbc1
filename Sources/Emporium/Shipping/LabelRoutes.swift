import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `POST /v1/admin/orders/{id}/fulfillments/{fulfillment_id}/label`: buys a fulfilment's label
/// again after the carrier failed or the process stopped mid-purchase. The purchase repeats
/// its Idempotency-Key, so the carrier never sells a second label; a label already bought is
/// answered as it is, without calling the carrier.
struct LabelRoutes {
    let labels: ShippingLabels?

    static let carrierFailed = "The carrier did not sell the label"

    func register(on routes: RouteRegistrar) {
        routes.on(.post, "/v1/admin/orders/:id/fulfillments/:fulfillment_id/label", access: .staff, orScope: .ordersWrite) { _, context in
            let order: ID<Order> = try context.base.pathID(notFound: "There is no such order.")
            let fulfillment: ID<Fulfillment> = try context.base.pathID("fulfillment_id", notFound: ShippingLabels.notFound.detail ?? "")
            guard let labels else { throw ShippingRateProblems.carrierOff }
            let label = try await labels.purchase(fulfillment, of: order)
            guard label.status == .purchased else {
                throw Problem(
                    .badGateway, slug: "carrier-unavailable", title: Self.carrierFailed,
                    detail: "\(Self.carrierFailed) (\(label.lastError ?? "no answer")). The label is still pending; try again later: the same label is asked for, so it is never bought twice.")
            }
            return LabelResponse(label)
        }
    }
}

/// A fulfilment's label as the admin API shows it.
struct LabelResponse: ResponseEncodable, Sendable {
    let fulfillmentID: String
    let status: String
    let service: String
    @NullEncoded var trackingNumber: String?
    @NullEncoded var labelURL: String?
    /// Why the last attempt failed, while the label is pending.
    @NullEncoded var error: String?

    enum CodingKeys: String, CodingKey {
        case status, service, error
        case fulfillmentID = "fulfillment_id"
        case trackingNumber = "tracking_number"
        case labelURL = "label_url"
    }

    init(_ label: ShippingLabel) {
        fulfillmentID = label.fulfillmentID.description
        status = label.status.rawValue
        service = label.service
        trackingNumber = label.trackingNumber
        labelURL = label.labelURL
        error = label.status == .pending ? label.lastError : nil
    }
}
