import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes

/// A shipment of some of an order's lines from one location.
enum Fulfillment {}

/// Shipping an order's lines: the fulfilment half of the order service.
extension OrderService {
    struct FulfillmentRequest: Sendable {
        let location: ID<StockLocation>
        /// Lines and quantities, each line at most once.
        let lines: [(line: ID<OrderLine>, quantity: Int64)]
        let carrier: String?
        let trackingNumber: String?
        /// Buy the parcel's label from the carrier (which then gives carrier and tracking number).
        var buyLabel = false
        /// The carrier service to buy it for; by default the one of the quote the order was placed with.
        var labelService: String? = nil
        /// The order's version the request was made from (a form shows it): when the order has
        /// moved on since, nothing ships. A form sent twice would otherwise ship twice.
        var expectedVersion: Int64? = nil
    }

    struct FulfillmentRecord: Sendable {
        let id: ID<Fulfillment>
        let orderStatus: OrderStatus
        let createdAt: Date
        /// The label, when one was bought (or is still pending).
        var label: ShippingLabel? = nil
    }

    /// Ships lines from a location in one transaction: the lines' fulfilled quantities, then
    /// on hand and the reservations (conditional UPDATEs with ledger rows, in the stock lock
    /// order), then the order's status, with its audit entry and event.
    ///
    /// The order row is locked first, like cancelling does, so that a fulfilment and a
    /// cancellation of one order queue on it rather than on each other's stock rows, and two
    /// fulfilments of one order see each other's lines.
    ///
    /// With a label to buy, the label step is recorded here too, before the carrier is called,
    /// and the shipping event waits for the tracking number (`ShippingLabels.purchase`).
    func fulfil(
        _ id: ID<Order>, _ request: FulfillmentRequest, labels: ShippingLabels? = nil, actor: AuditLog.Actor, origin: RequestOrigin
    ) async throws -> FulfillmentRecord {
        if request.buyLabel, labels == nil { throw ShippingRateProblems.carrierOff }
        var record = try await database.transaction { db in
            guard let current = try await store.findLocked(id, on: db) else { throw OrderStore.notFound }
            if let expected = request.expectedVersion, expected != current.version {
                throw Problem(.conflict, slug: "order-changed", title: "The order changed",
                              detail: "The order changed since this was asked for (a form sent twice, or someone else shipped or changed it); nothing was shipped. Look at the order again.")
            }
            guard [.paid, .partiallyFulfilled].contains(current.status) else {
                throw Problem(.conflict, slug: "order-not-fulfillable", title: "Order cannot be fulfilled",
                              detail: "Only a paid order can be fulfilled; this one is \(current.status.rawValue).")
            }
            guard try await inventory.location(request.location, on: db) else {
                throw Problem.validation([.init(pointer: "/location_id", detail: "names no stock location")])
            }
            let orderLines = try await store.lines(of: id, on: db)
            let now = clock.now()
            let fulfillmentID: ID<Fulfillment> = ids.make()
            try await store.insertFulfillment(
                fulfillmentID, of: id, from: request.location, carrier: request.carrier, trackingNumber: request.trackingNumber,
                at: now, on: db)
            if request.buyLabel, let labels {
                let chosen = try await labels.quotes.chosenService(cart: current.cartID, on: db)
                guard let service = request.labelService ?? chosen else {
                    throw Problem.validation([.init(
                        pointer: "/label_service", detail: "name the carrier service: this order was not placed with a carrier rate")])
                }
                try await labels.store.insertPending(fulfillmentID, order: id, service: service, at: now, on: db)
            }
            var stock: [InventoryStore.StockChange] = []
            for (lineID, quantity) in request.lines.sorted(by: { $0.line < $1.line }) {
                guard let line = orderLines.first(where: { $0.id == lineID }) else {
                    throw Problem.validation([.init(pointer: "/lines", detail: "line \(lineID) is not a line of this order")])
                }
                guard try await store.fulfil(quantity, of: lineID, in: fulfillmentID, on: db) else {
                    throw Problem(.conflict, slug: "over-fulfilment", title: "More than ordered",
                                  detail: "Line \(line.sku) has \(line.outstanding) left to fulfil.")
                }
                stock += Self.stockChanges(shipping: line, quantity: quantity, from: request.location)
            }
            if let short = try await inventory.ship(stock, reference: "order \(current.displayNumber)", actor: actor, at: now, on: db) {
                throw Problem(.conflict, slug: "insufficient-stock", title: "Not enough stock",
                              detail: "\(short.sku) lacks \(max(-short.onHandDelta, -short.reservedDelta)) units at this location to ship.")
            }
            let remaining = try await store.outstanding(of: id, on: db)
            let event: OrderEvent = remaining == 0 ? .fulfilled : .partiallyFulfilled
            let next = try current.status.applying(event)
            guard try await store.transition(id, from: current.status, by: event, at: now, on: db) else {
                throw OrderStore.changed
            }
            try await audit.record(.init(actor: actor, action: "order.fulfilled", target: current.displayNumber, origin: origin), on: db)
            if !request.buyLabel {
                try await self.event(
                    remaining == 0 ? "order.fulfilled" : "order.partially_fulfilled", current, status: next, carrier: request.carrier,
                    trackingNumber: request.trackingNumber, on: db)
            }
            return FulfillmentRecord(id: fulfillmentID, orderStatus: next, createdAt: now)
        }
        if request.buyLabel, let labels {
            record.label = try await labels.purchase(record.id, of: id)
        }
        return record
    }

    /// What shipping `quantity` of a line from `location` does to stock: stock reserved there
    /// goes down in on hand and reserved together; stock reserved elsewhere is released there
    /// and taken from here.
    static func stockChanges(shipping line: OrderLine, quantity: Int64, from location: ID<StockLocation>) -> [InventoryStore.StockChange] {
        if line.reservedLocationID == location {
            return [.init(variantID: line.variantID, locationID: location, onHandDelta: -quantity, reservedDelta: -quantity, sku: line.sku)]
        }
        var changes: [InventoryStore.StockChange] = []
        if let reservedAt = line.reservedLocationID {
            changes.append(.init(variantID: line.variantID, locationID: reservedAt, onHandDelta: 0, reservedDelta: -quantity, sku: line.sku))
        }
        changes.append(.init(variantID: line.variantID, locationID: location, onHandDelta: -quantity, reservedDelta: 0, sku: line.sku))
        return changes
    }
}

extension OrderStore {
    /// The carrier and tracking number of a fulfilment whose label was bought after it was made.
    func setTracking(_ fulfillment: ID<Fulfillment>, carrier: String, trackingNumber: String, on db: any SQLExecutor) async throws {
        try await db.execute("""
            UPDATE fulfillments SET carrier = \(carrier), tracking_number = \(trackingNumber) WHERE id = \(fulfillment)
            """)
    }
}
