import EmporiumCore
import EmporiumStorage
import Foundation
import Logging
import Metrics

/// Buys carrier labels for fulfilments, crash-safe: the label step is a `pending` row written
/// with the fulfilment, before the carrier is called; the call carries the Idempotency-Key
/// `label-<fulfilment id>`; the answer is recorded after, with the tracking number on the
/// fulfilment and the shipping event (whose e-mail shows it) in the same transaction. A
/// crash or a lost answer in between leaves the row pending: buying again sends the same key,
/// so the carrier hands back the label it sold instead of selling a second.
struct ShippingLabels: Sendable {
    let database: any Database
    let store: ShippingLabelStore
    let quotes: CarrierQuoteStore
    let carrier: Carrier
    let rates: ShippingRates
    let parcels: ParcelStore
    let orders: OrderStore
    let service: OrderService
    let clock: any WallClock
    let logger: Logger

    static let notFound = Problem.notFound("This fulfilment has no label; fulfil with buy_label to buy one.")

    /// The label of a fulfilment of `order`, bought now unless it was bought before. A carrier
    /// that fails leaves it pending, with the reason, for the next attempt.
    func purchase(_ fulfillment: ID<Fulfillment>, of order: ID<Order>) async throws -> ShippingLabel {
        guard let label = try await store.find(fulfillment, on: database), label.orderID == order else { throw Self.notFound }
        guard label.status == .pending else { return label }
        guard let found = try await orders.find(order, on: database),
            let shipment = try await store.shipment(of: fulfillment, on: database)
        else { throw Self.notFound }
        let parcel = try await parcels.parcel(of: shipment.lines, from: shipment.location, to: found.shippingAddress, on: database)
        do {
            guard carrier.breaker.allows(at: clock.now()) else {
                rates.metrics.counter("emporium_carrier_calls_total", [("call", "label"), ("outcome", "short_circuited")]).increment()
                throw CarrierFailure.unavailable("the carrier failed repeatedly; calls are paused for a while")
            }
            let bought = try await rates.measure("label", carrier: carrier) {
                try await withTimeout(carrier.timeout) {
                    try await carrier.client.buyLabel(
                        service: label.service, parcel: parcel, reference: fulfillment.description, idempotencyKey: label.idempotencyKey)
                }
            }
            try await record(bought, for: fulfillment, of: order)
        } catch let failure as CarrierFailure {
            logger.notice("Label not bought", metadata: ["fulfillment": "\(fulfillment)", "error": "\(failure)"])
            try await store.failed(fulfillment, reason: failure.description, at: clock.now(), on: database)
        }
        guard let now = try await store.find(fulfillment, on: database) else { throw Self.notFound }
        return now
    }

    /// The outcome, once: the label, the fulfilment's carrier and tracking number, and the
    /// shipping event the fulfilment held back until the tracking number was known.
    private func record(_ bought: CarrierLabel, for fulfillment: ID<Fulfillment>, of id: ID<Order>) async throws {
        try await database.transaction { db in
            guard let order = try await orders.findLocked(id, on: db) else { throw OrderStore.notFound }
            guard try await store.complete(fulfillment, with: bought, at: clock.now(), on: db) else { return }
            let carrierName = bought.carrier ?? "carrier"
            try await orders.setTracking(fulfillment, carrier: carrierName, trackingNumber: bought.trackingNumber, on: db)
            try await service.event(
                order.status == .fulfilled ? "order.fulfilled" : "order.partially_fulfilled", order, carrier: carrierName,
                trackingNumber: bought.trackingNumber, on: db)
        }
    }
}
