import EmporiumCore
import EmporiumStorage
import Foundation

/// What a delivery job carries: everything needed to send, so that a retry days later sends
/// the very bytes of the first try even if the event has been purged meanwhile.
struct WebhookDeliveryJob: Codable, Sendable {
    let endpointID: String
    let eventID: String
    let eventType: String
    /// The request body, exactly as sent.
    let body: String

    enum CodingKeys: String, CodingKey {
        case body
        case endpointID = "endpoint_id"
        case eventID = "event_id"
        case eventType = "event_type"
    }

    init(endpoint: ID<WebhookEndpoint>, event: OutboxEvent) {
        endpointID = endpoint.description
        eventID = event.id
        eventType = event.type
        body = Self.body(for: event)
    }

    /// `{"type": …, "timestamp": …, "data": …}` (Standard Webhooks): the timestamp is when the
    /// event happened, the data the event's payload object as recorded.
    static func body(for event: OutboxEvent) -> String {
        "{\"type\":\(quoted(event.type)),\"timestamp\":\(quoted(Timestamp.string(from: event.createdAt))),\"data\":\(event.payload)}"
    }

    private static func quoted(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        // Encoding a string cannot fail.
        return (try? encoder.encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }

    /// Queues a delivery of `event` to `endpoint`. A relayed event's job has the unique key
    /// `webhook:<endpoint>:<event>` and runs after the endpoint's earlier events of the same
    /// aggregate; a redelivery (`redelivery` set) has a key of its own and waits for nothing.
    static func request(
        endpoint: ID<WebhookEndpoint>, event: OutboxEvent, redelivery: UUID? = nil
    ) throws -> JobRequest {
        let payload = WebhookDeliveryJob(endpoint: endpoint, event: event)
        let key = "webhook:\(endpoint):\(event.id)"
        guard let redelivery else {
            return try JobRequest(
                kind: WebhookDelivery.kind, payload: payload, uniqueKey: key,
                orderingKey: event.orderingKey(consumer: "webhook:\(endpoint)"), orderingSequence: event.sequence)
        }
        return try JobRequest(
            kind: WebhookDelivery.kind, payload: payload, uniqueKey: "\(key):redelivery:\(redelivery.lowercasedString)")
    }
}

/// The relay's consumer: one delivery job per event and active endpoint subscribed to its type.
/// Asked inside the relay's transaction, so an endpoint disabled before the event is relayed
/// gets nothing.
struct WebhookConsumer: EventConsumer {
    let store: WebhookStore

    func jobs(for events: [OutboxEvent], on db: any SQLExecutor) async throws -> [JobRequest] {
        let deliverable = events.filter { WebhookEndpoint.eventTypes.contains($0.type) }
        guard !deliverable.isEmpty else { return [] }
        let endpoints = try await store.active(on: db)
        var requests: [JobRequest] = []
        for event in deliverable {
            for endpoint in endpoints where endpoint.subscribes(to: event.type) {
                requests.append(try WebhookDeliveryJob.request(endpoint: endpoint.id, event: event))
            }
        }
        return requests
    }
}
