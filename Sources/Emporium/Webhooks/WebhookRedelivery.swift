import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes

/// Queues a past delivery's event again for its endpoint, for the JSON route and the back
/// office alike: only to an active endpoint, only while the outbox still keeps the event,
/// and audited in the transaction that queues it.
struct WebhookRedelivery: Sendable {
    let store: WebhookStore
    let outbox: Outbox
    let jobs: JobStore
    let audit: AuditLog
    let clock: any WallClock
    let ids: any IDGenerator

    static let noDelivery = "This endpoint has no delivery with this id."

    func redeliver(
        _ deliveryID: ID<WebhookDeliveryRecord>, of endpointID: ID<WebhookEndpoint>,
        by actor: AuditLog.Actor, origin: RequestOrigin, on database: any Database
    ) async throws -> (event: OutboxEvent, queuedAt: Date) {
        try await database.transaction { db in
            guard let endpoint = try await store.find(endpointID, on: db) else { throw WebhookRoutes.notFound }
            guard let delivery = try await store.delivery(deliveryID, of: endpointID, on: db) else {
                throw Problem.notFound(Self.noDelivery)
            }
            guard endpoint.active else {
                throw Problem(
                    .conflict, slug: "webhook-inactive", title: "Endpoint inactive",
                    detail: "The endpoint gets no deliveries while it is inactive; activate it first.")
            }
            guard let event = try await outbox.event(delivery.eventID, on: db) else {
                throw Problem(
                    .conflict, slug: "event-expired", title: "Event no longer kept",
                    detail: "The event is older than the event retention period and can no longer be sent.")
            }
            let now = clock.now()
            let request = try WebhookDeliveryJob.request(endpoint: endpointID, event: event, redelivery: ids.makeUUID())
            _ = try await jobs.enqueue(request, maxAttempts: WebhookDelivery.maxAttempts, at: now, on: db)
            try await audit.record(
                .init(actor: actor, action: "webhook.redelivered", target: endpointID.description, origin: origin), on: db)
            return (event, now)
        }
    }
}

extension AddressPolicy {
    /// A webhook URL as stored when its form is right; else nil with the problem noted at `/url`.
    func checkedURL(_ url: String?, into errors: inout FieldErrors) -> String? {
        guard let url else { return nil }
        let trimmed = url.trimmingCharacters(in: .whitespaces)
        if let problem = formProblem(trimmed) {
            errors.add("/url", problem)
            return nil
        }
        return normalized(trimmed)
    }

    /// Refuses, as a validation problem at `/url`, a host that resolves to an address webhooks
    /// must not reach, or that does not resolve.
    func checkAddress(_ url: String) async throws {
        switch await vet(url) {
        case .allowed: return
        case .refused(let reason), .unresolvable(let reason):
            throw Problem.validation([.init(pointer: "/url", detail: reason)], detail: "The webhook URL is not allowed.")
        }
    }
}
