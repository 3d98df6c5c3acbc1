import EmporiumCore
import EmporiumStorage
import Foundation
import Logging

/// Outgoing webhooks, assembled: endpoints, the relay's consumer that queues deliveries, the
/// delivery job and the admin routes. docs/webhooks.md is the receiver's side of it.
struct Webhooks: Sendable {
    struct Settings: Sendable {
        /// Allow endpoints on loopback, private, link-local and metadata addresses, and plain
        /// http (tests and closed networks only).
        var allowPrivateAddresses = false
        /// An endpoint failing without a success for this long is disabled.
        var disableAfter: TimeInterval = 5 * 24 * 3600
        /// How long one delivery may take.
        var timeout: TimeInterval = 10
    }

    let store: WebhookStore
    let consumer: any EventConsumer
    let jobKinds: [JobKind]
    private let routes: WebhookRoutes

    init(
        database: any Database, cipher: FieldCipher, audit: AuditLog, jobs: JobStore, settings: Settings, metrics: AppMetrics,
        clock: any WallClock, ids: any IDGenerator, logger: Logger
    ) {
        let store = WebhookStore(cipher: cipher, ids: ids)
        let policy = AddressPolicy(allowPrivateAddresses: settings.allowPrivateAddresses)
        let delivery = WebhookDelivery(
            database: database, store: store, policy: policy, http: OutboundHTTPClient(timeout: settings.timeout), audit: audit,
            settings: settings, metrics: metrics, clock: clock, ids: ids, logger: logger)
        self.store = store
        consumer = WebhookConsumer(store: store)
        jobKinds = [delivery.jobKind]
        routes = WebhookRoutes(
            database: database, store: store, policy: policy, jobs: jobs, outbox: Outbox(ids: ids), audit: audit, clock: clock,
            ids: ids)
    }

    func register(on routes: RouteRegistrar) {
        self.routes.register(on: routes)
    }
}
