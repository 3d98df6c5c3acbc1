import EmporiumCore
import Foundation

/// A receiver of webhooks: where to send, which events, and whether it still gets them. Its
/// secrets stay sealed in the store; this value never holds them, so it can be logged and
/// answered without care.
struct WebhookEndpoint: Sendable, Equatable {
    /// The events an endpoint can subscribe to; `*` is all of them. Events of other types
    /// stay inside Emporium.
    static let eventTypes: [String] = [
        "order.created", "order.placed", "order.paid", "order.cancelled", "order.partially_fulfilled",
        "order.fulfilled", "order.refunded", "payment.failed", "inventory.low_stock", "product.updated",
        "customer.created",
    ]
    static let allEvents = "*"
    /// How long the replaced secret still signs after a rotation.
    static let rotationOverlap: TimeInterval = 24 * 3600

    let id: ID<WebhookEndpoint>
    var url: String
    var description: String
    /// Sorted, each once; `["*"]` for every event.
    var eventTypes: [String]
    var active: Bool
    /// When the current run of failures began; nil after a success.
    var failingSince: Date?
    /// Why Emporium disabled the endpoint; nil when it is active or an admin deactivated it.
    var disabledReason: String?
    /// Until when the previous secret signs too; nil without a rotation under way.
    var previousSecretExpiresAt: Date?
    let createdAt: Date
    var updatedAt: Date

    func subscribes(to type: String) -> Bool {
        eventTypes.contains(Self.allEvents) || eventTypes.contains(type)
    }
}

/// One attempt to deliver one event to one endpoint, as the delivery log keeps it.
struct WebhookDeliveryRecord: Sendable, Equatable {
    let id: ID<WebhookDeliveryRecord>
    let endpointID: ID<WebhookEndpoint>
    let eventID: String
    let eventType: String
    /// 1 for the first try of a delivery job, counting up with its retries.
    let attempt: Int64
    /// The receiver's status; nil when none came (timeout, connection failure, refused address).
    let statusCode: Int64?
    let succeeded: Bool
    let durationMS: Int64
    let error: String?
    let createdAt: Date
}
