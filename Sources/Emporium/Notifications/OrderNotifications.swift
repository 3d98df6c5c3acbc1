import EmporiumCore
import EmporiumStorage
import Foundation

/// The customer e-mails about orders: confirmation once the payment is authorized, a note
/// when a payment is declined, and a shipping confirmation with the tracking number. Each is
/// a job queued by the relay with the event's id as its unique key, so one event never
/// queues two messages.
///
/// A guest's confirmation links to the order with its access token (`--order-url`, then
/// `/<order id>?token=`). The token is not in the event (webhooks get events) nor in the job:
/// the order keeps a copy sealed with the field cipher until this message has gone out, and
/// the job opens it when it sends. Rendering the message at checkout instead would confirm
/// orders whose payment is still to be decided.
struct OrderNotifications: EventConsumer {
    static let confirmation = "mail.order_confirmation"
    static let paymentFailed = "mail.payment_failed"
    static let shipped = "mail.shipping_confirmation"

    /// Which event sends which message.
    static let templates: [String: (kind: String, template: String)] = [
        "order.placed": (confirmation, "order_confirmation"),
        "payment.failed": (paymentFailed, "payment_failed"),
        "order.fulfilled": (shipped, "shipping_confirmation"),
        "order.partially_fulfilled": (shipped, "shipping_confirmation"),
    ]

    struct Payload: Codable, Sendable {
        let eventID: String
        let eventType: String
        let orderID: String
        let carrier: String?
        let trackingNumber: String?
        let reason: String?

        enum CodingKeys: String, CodingKey {
            case carrier, reason
            case eventID = "event_id"
            case eventType = "event_type"
            case orderID = "order_id"
            case trackingNumber = "tracking_number"
        }
    }

    private struct EventData: Decodable {
        let orderID: String?
        let carrier: String?
        let trackingNumber: String?
        let reason: String?

        enum CodingKeys: String, CodingKey {
            case carrier, reason
            case orderID = "order_id"
            case trackingNumber = "tracking_number"
        }
    }

    let database: any Database
    let orders: OrderStore
    let sender: MailSender
    /// The storefront page that shows an order; the confirmation links to it.
    let orderURL: String

    func jobs(for events: [OutboxEvent], on db: any SQLExecutor) async throws -> [JobRequest] {
        try events.compactMap { event in
            guard let route = Self.templates[event.type],
                let data = try? JSONDecoder().decode(EventData.self, from: Data(event.payload.utf8)), let orderID = data.orderID
            else { return nil }
            let payload = Payload(
                eventID: event.id, eventType: event.type, orderID: orderID, carrier: data.carrier,
                trackingNumber: data.trackingNumber, reason: data.reason)
            return try JobRequest(kind: route.kind, payload: payload, uniqueKey: "mail:\(event.id)")
        }
    }

    var jobKinds: [JobKind] {
        let orders = orders
        // Only the confirmation links to the order: once it has gone, the sealed copy of the
        // token has done its work and only the digest stays.
        let forgetToken: @Sendable (Job, any SQLExecutor) async throws -> Void = { job, db in
            guard let id = ID<Order>(try job.decode(Payload.self).orderID) else { return }
            try await orders.forgetMailAccessToken(of: id, on: db)
        }
        return [Self.confirmation, Self.paymentFailed, Self.shipped].map { kind in
            JobKind(kind, maxAttempts: 12, finish: kind == Self.confirmation ? forgetToken : nil) { job in try await send(job) }
        }
    }

    private func send(_ job: Job) async throws {
        let payload = try job.decode(Payload.self)
        guard let template = Self.templates[payload.eventType]?.template else {
            throw JobFailure.permanent("no message for event \(payload.eventType)")
        }
        guard let id = ID<Order>(payload.orderID), let (order, lines, sealed) = try await orders.findForMail(id, on: database) else {
            throw JobFailure.permanent("order \(payload.orderID) no longer exists")
        }
        // Only the confirmation links to the order; the token goes once it has been sent.
        let accessToken = try sealed.flatMap { payload.eventType == "order.placed" ? try orders.openMailAccessToken($0, of: order.id) : nil }
        let currency = order.currency
        func amount(_ value: Int64) -> String { MailSender.amount(value, currency) }
        let values: [String: Any] = [
            "number": order.displayNumber,
            "recipient": order.shippingAddress.recipient,
            "city": order.shippingAddress.city,
            "postal_code": order.shippingAddress.postalCode ?? "",
            "country": order.shippingAddress.country,
            "lines": lines.map { line -> [String: Any] in
                ["quantity": line.quantity, "title": line.title, "sku": line.sku, "amount": amount(line.subtotal)]
            },
            "subtotal": amount(order.subtotal),
            "discount": order.discount > 0 ? amount(order.discount) : false,
            "shipping": amount(order.shipping),
            "shipping_method": order.shippingMethodName,
            "tax": amount(order.tax),
            "tax_included": order.taxIncluded,
            "total": amount(order.total),
            "carrier": payload.carrier ?? false,
            "tracking_number": payload.trackingNumber ?? false,
            "complete": payload.eventType == "order.fulfilled",
            "reason": (payload.reason ?? "declined").replacingOccurrences(of: "_", with: " "),
            "order_link": accessToken.map { "\(orderURL)/\(order.id)?token=\($0)" } ?? false,
        ]
        try await sender.send(template, to: order.email, key: payload.eventID, values: values)
    }
}
