import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/admin/webhooks`: administrators register receivers (the secret is shown once, on the
/// answer to the form), switch them on and off, delete them, read each one's delivery log and
/// send a delivery again. Administrators only, with the input rules and audit entries of
/// `/v1/admin/webhooks` (`WebhookRoutes`, `AddressPolicy`).
enum WebhookPages: AdminSection {
    static let templates: [String: [UInt8]] = [
        "webhooks": PackageResources.admin_webhooks_mustache,
        "webhook": PackageResources.admin_webhook_mustache,
        "webhook_created": PackageResources.admin_webhook_created_mustache,
    ]
    static let access = Access.role(.admin)

    static func register(on routes: AdminRoutes, services: BackOfficeServices) {
        routes.page("/admin/webhooks", access: access, menu: .init(label: "Webhooks", order: 70)) { request, context in
            let page = try PageRequest(request)
            let endpoints = try await services.webhookStore.list(after: page.after, limit: page.limit + 1, on: services.database)
            // Page's rule without its encoding: one row more than asked for means another page.
            let data = Array(endpoints.prefix(page.limit))
            let nextCursor = endpoints.count > page.limit ? data.last.map { PageRequest.encode($0.id.description) } : nil
            var values: [String: Any] = [
                "endpoints": data.map(WebhookViews.endpoint),
                "event_types": WebhookEndpoint.eventTypes.joined(separator: ", "),
            ]
            if let next = nextCursor { values["next"] = WebhookViews.link("/admin/webhooks", [("cursor", next)]) }
            return context.render("webhooks", title: "Webhooks", values)
        }
        let list: @Sendable (Request, AdminContext) -> String = { _, _ in "/admin/webhooks" }
        routes.action("/admin/webhooks", access: access, returnTo: list) { _, context, form in
            var errors = FieldErrors()
            let url = services.webhookPolicy.checkedURL(errors.required(form["url"], "/url"), into: &errors)
            let eventTypes = WebhookRoutes.checkEventTypes(
                (form["event_types"] ?? WebhookEndpoint.allEvents).split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init),
                into: &errors)
            errors.text(form["description"], "/description", maximum: WebhookRoutes.maximumDescription, required: false)
            try errors.check()
            guard let url, let eventTypes else { throw Problem.internalError }
            try await services.webhookPolicy.checkAddress(url)
            let now = services.clock.now()
            let endpoint = WebhookEndpoint(
                id: services.ids.make(), url: url, description: form["description"] ?? "", eventTypes: eventTypes,
                active: true, failingSince: nil, disabledReason: nil, previousSecretExpiresAt: nil, createdAt: now, updatedAt: now)
            let secret = WebhookSignature.makeSecret()
            try await services.database.transaction { db in
                try await services.webhookStore.insert(endpoint, secret: secret, on: db)
                try await services.audit.record(
                    .init(actor: context.actor, action: "webhook.created", target: endpoint.id.description, origin: context.origin), on: db)
            }
            // The secret is on this answer only: it is not kept in the clear, and no later page
            // shows it.
            return context.renderSecret(
                "webhook_created", title: "Webhook endpoint created",
                ["endpoint": WebhookViews.endpoint(endpoint), "secret": secret])
        }
        routes.page("/admin/webhooks/:id", access: access) { request, context in
            let endpoint = try await endpoint(context, services)
            let page = try PageRequest(request)
            let records = try await services.webhookStore.deliveries(
                of: endpoint.id, before: page.after, limit: page.limit + 1, on: services.database)
            let shown = Page(records.map(WebhookRoutes.DeliveryResponse.init), limit: page.limit, id: \.id)
            let id = endpoint.id.description
            var values: [String: Any] = [
                "endpoint": WebhookViews.endpoint(endpoint),
                "deliveries": shown.data.map { WebhookViews.delivery($0, endpoint: id) },
            ]
            if let next = shown.nextCursor { values["next"] = WebhookViews.link("/admin/webhooks/\(id)", [("cursor", next)]) }
            return context.render("webhook", title: "Webhook endpoint", values)
        }
        let back: @Sendable (Request, AdminContext) -> String = { _, context in
            "/admin/webhooks/\(context.parameters.get("id") ?? "")"
        }
        routes.action("/admin/webhooks/:id/active", access: access, returnTo: back) { request, context, form in
            let id: ID<WebhookEndpoint> = try context.base.pathID(notFound: WebhookRoutes.notFoundDetail)
            guard let wanted = ["yes": true, "no": false][form["active"] ?? ""] else {
                throw Problem.validation([.init(pointer: "/active", detail: "must be yes or no")])
            }
            try await services.database.transaction { db in
                guard var endpoint = try await services.webhookStore.find(id, on: db) else { throw WebhookRoutes.notFound }
                guard endpoint.active != wanted else { return }
                // As PATCH {"active": …}: back in service forgives the failures so far; switched
                // off by hand is no reason of Emporium's.
                endpoint.active = wanted
                endpoint.failingSince = wanted ? nil : endpoint.failingSince
                endpoint.disabledReason = nil
                endpoint.updatedAt = services.clock.now()
                try await services.webhookStore.update(endpoint, on: db)
                try await services.audit.record(
                    .init(actor: context.actor, action: "webhook.updated", target: id.description, origin: context.origin), on: db)
            }
            return try await context.redirect(to: back(request, context), notice: wanted ? "Enabled." : "Disabled.")
        }
        routes.action("/admin/webhooks/:id/delete", access: access, returnTo: back) { _, context, form in
            try context.requireConfirmation(form)
            let id: ID<WebhookEndpoint> = try context.base.pathID(notFound: WebhookRoutes.notFoundDetail)
            try await services.database.transaction { db in
                guard try await services.webhookStore.delete(id, on: db) else { throw WebhookRoutes.notFound }
                try await services.audit.record(
                    .init(actor: context.actor, action: "webhook.deleted", target: id.description, origin: context.origin), on: db)
            }
            return try await context.redirect(to: "/admin/webhooks", notice: "Webhook endpoint deleted.")
        }
        routes.action("/admin/webhooks/:id/deliveries/:delivery_id/redeliver", access: access, returnTo: back) { request, context, _ in
            let queued = try await redeliver(context, services)
            return try await context.redirect(to: back(request, context), notice: "Event \(queued) queued for delivery again.")
        }
    }

    /// As `POST /v1/admin/webhooks/:id/deliveries/:delivery_id/redeliver`: the delivery's event
    /// queued again for this endpoint; answers the event's type.
    static func redeliver(_ context: AdminContext, _ services: BackOfficeServices) async throws -> String {
        let id: ID<WebhookEndpoint> = try context.base.pathID(notFound: WebhookRoutes.notFoundDetail)
        let deliveryID: ID<WebhookDeliveryRecord> = try context.base.pathID("delivery_id", notFound: WebhookRedelivery.noDelivery)
        let redelivery = WebhookRedelivery(
            store: services.webhookStore, outbox: Outbox(ids: services.ids), jobs: services.jobs, audit: services.audit,
            clock: services.clock, ids: services.ids)
        return try await redelivery.redeliver(deliveryID, of: id, by: context.actor, origin: context.origin, on: services.database).event.type
    }

    static func endpoint(_ context: AdminContext, _ services: BackOfficeServices) async throws -> WebhookEndpoint {
        let id: ID<WebhookEndpoint> = try context.base.pathID(notFound: WebhookRoutes.notFoundDetail)
        guard let endpoint = try await services.webhookStore.find(id, on: services.database) else { throw WebhookRoutes.notFound }
        return endpoint
    }
}
