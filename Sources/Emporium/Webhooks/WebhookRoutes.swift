import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/admin/webhooks`: admins register receivers, rotate their secrets, read the delivery log
/// and send an event again. A secret is shown in the answer that makes it and never again.
struct WebhookRoutes {
    let database: any Database
    let store: WebhookStore
    let policy: AddressPolicy
    let jobs: JobStore
    let outbox: Outbox
    let audit: AuditLog
    let clock: any WallClock
    let ids: any IDGenerator

    static let maximumDescription = 500

    /// The body of POST and PATCH. Every member is optional here: POST requires `url` and
    /// `event_types`, PATCH changes what is given.
    struct Input: Codable, Sendable {
        var url: String?
        var eventTypes: [String]?
        var description: String?
        var active: Bool?

        enum CodingKeys: String, CodingKey {
            case url, description, active
            case eventTypes = "event_types"
        }
    }

    struct EndpointResponse: ResponseEncodable, Sendable {
        let endpoint: WebhookEndpoint
        /// Only in the answers that create the endpoint or rotate its secret.
        let secret: String?
        let now: Date

        enum CodingKeys: String, CodingKey {
            case id, url, description, active, secret
            case eventTypes = "event_types"
            case failingSince = "failing_since"
            case disabledReason = "disabled_reason"
            case previousSecretExpiresAt = "previous_secret_expires_at"
            case createdAt = "created_at"
            case updatedAt = "updated_at"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(endpoint.id.description, forKey: .id)
            try container.encode(endpoint.url, forKey: .url)
            try container.encode(endpoint.description, forKey: .description)
            try container.encode(endpoint.eventTypes, forKey: .eventTypes)
            try container.encode(endpoint.active, forKey: .active)
            try container.encode(endpoint.failingSince.map(Timestamp.string(from:)), forKey: .failingSince)
            try container.encode(endpoint.disabledReason, forKey: .disabledReason)
            // An overlap that has ended is no overlap.
            let overlap = endpoint.previousSecretExpiresAt.flatMap { $0 > now ? $0 : nil }
            try container.encode(overlap.map(Timestamp.string(from:)), forKey: .previousSecretExpiresAt)
            try container.encode(Timestamp.string(from: endpoint.createdAt), forKey: .createdAt)
            try container.encode(Timestamp.string(from: endpoint.updatedAt), forKey: .updatedAt)
            // Left out rather than null when there is none, as with API keys.
            try container.encodeIfPresent(secret, forKey: .secret)
        }
    }

    struct DeliveryResponse: ResponseEncodable, Sendable {
        let id: String
        let eventID: String
        let eventType: String
        let attempt: Int64
        @NullEncoded var statusCode: Int64?
        let succeeded: Bool
        let durationMS: Int64
        @NullEncoded var error: String?
        let createdAt: String

        enum CodingKeys: String, CodingKey {
            case id, attempt, succeeded, error
            case eventID = "event_id"
            case eventType = "event_type"
            case statusCode = "status_code"
            case durationMS = "duration_ms"
            case createdAt = "created_at"
        }

        init(_ record: WebhookDeliveryRecord) {
            id = record.id.description
            eventID = record.eventID
            eventType = record.eventType
            attempt = record.attempt
            statusCode = record.statusCode
            succeeded = record.succeeded
            durationMS = record.durationMS
            error = record.error
            createdAt = Timestamp.string(from: record.createdAt)
        }
    }

    struct RedeliveryResponse: ResponseEncodable, Sendable {
        let endpointID: String
        let eventID: String
        let eventType: String
        let queuedAt: String

        enum CodingKeys: String, CodingKey {
            case endpointID = "endpoint_id"
            case eventID = "event_id"
            case eventType = "event_type"
            case queuedAt = "queued_at"
        }
    }

    static let notFoundDetail = "There is no webhook endpoint with this id."
    static let notFound = Problem.notFound(notFoundDetail)

    func register(on routes: RouteRegistrar) {
        routes.on(.get, "/v1/admin/webhooks", access: .admin) { request, _ in
            let page = try PageRequest(request)
            let endpoints = try await store.list(after: page.after, limit: page.limit + 1, on: database)
            let now = clock.now()
            return Page(
                endpoints.map { EndpointResponse(endpoint: $0, secret: nil, now: now) }, limit: page.limit,
                id: { $0.endpoint.id.description })
        }

        routes.on(.post, "/v1/admin/webhooks", access: .admin) { request, context in
            let input = try await request.decodeStrictJSON(as: Input.self, context: context.base).value
            var errors = FieldErrors()
            let url = policy.checkedURL(errors.required(input.url, "/url"), into: &errors)
            let eventTypes = Self.checkEventTypes(errors.required(input.eventTypes, "/event_types"), into: &errors)
            errors.text(input.description, "/description", maximum: Self.maximumDescription, required: false)
            try errors.check()
            guard let url, let eventTypes else { throw Problem.internalError }
            try await policy.checkAddress(url)
            let now = clock.now()
            let endpoint = WebhookEndpoint(
                id: ids.make(), url: url, description: input.description ?? "", eventTypes: eventTypes,
                active: input.active ?? true, failingSince: nil, disabledReason: nil, previousSecretExpiresAt: nil,
                createdAt: now, updatedAt: now)
            let secret = WebhookSignature.makeSecret()
            try await database.transaction { db in
                try await store.insert(endpoint, secret: secret, on: db)
                try await audit.record(
                    .init(actor: context.actor, action: "webhook.created", target: endpoint.id.description, origin: context.origin), on: db)
            }
            return EditedResponse(status: .created, response: EndpointResponse(endpoint: endpoint, secret: secret, now: now))
        }

        routes.on(.get, "/v1/admin/webhooks/:id", access: .admin) { _, context in
            let id: ID<WebhookEndpoint> = try context.base.pathID(notFound: Self.notFoundDetail)
            guard let endpoint = try await store.find(id, on: database) else { throw Self.notFound }
            return EndpointResponse(endpoint: endpoint, secret: nil, now: clock.now())
        }

        routes.on(.patch, "/v1/admin/webhooks/:id", access: .admin) { request, context in
            let id: ID<WebhookEndpoint> = try context.base.pathID(notFound: Self.notFoundDetail)
            let body = try await request.decodeStrictJSON(as: Input.self, context: context.base)
            let input = body.value
            var errors = FieldErrors()
            for member in ["url", "event_types", "active"] where body.nullMembers.contains(member) {
                errors.add("/\(member)", "must not be null")
            }
            let url = policy.checkedURL(input.url, into: &errors)
            let eventTypes = Self.checkEventTypes(input.eventTypes, into: &errors)
            errors.text(input.description, "/description", maximum: Self.maximumDescription, required: false)
            try errors.check()
            // Before the transaction: resolving a name may take a while.
            if let url { try await policy.checkAddress(url) }
            return try await database.transaction { db in
                guard var endpoint = try await store.find(id, on: db) else { throw Self.notFound }
                let now = clock.now()
                if let url { endpoint.url = url }
                if let eventTypes { endpoint.eventTypes = eventTypes }
                if body.nullMembers.contains("description") { endpoint.description = "" }
                if let description = input.description { endpoint.description = description }
                if let active = input.active, active != endpoint.active {
                    endpoint.active = active
                    // Back in service: the failures so far are forgiven. Deactivated by hand:
                    // no reason of Emporium's.
                    endpoint.failingSince = active ? nil : endpoint.failingSince
                    endpoint.disabledReason = nil
                }
                endpoint.updatedAt = now
                try await store.update(endpoint, on: db)
                try await audit.record(
                    .init(actor: context.actor, action: "webhook.updated", target: id.description, origin: context.origin), on: db)
                return EndpointResponse(endpoint: endpoint, secret: nil, now: now)
            }
        }

        routes.on(.delete, "/v1/admin/webhooks/:id", access: .admin) { _, context in
            let id: ID<WebhookEndpoint> = try context.base.pathID(notFound: Self.notFoundDetail)
            try await database.transaction { db in
                guard try await store.delete(id, on: db) else { throw Self.notFound }
                try await audit.record(
                    .init(actor: context.actor, action: "webhook.deleted", target: id.description, origin: context.origin), on: db)
            }
            return HTTPResponse.Status.noContent
        }

        routes.on(.post, "/v1/admin/webhooks/:id/rotate-secret", access: .admin) { _, context in
            let id: ID<WebhookEndpoint> = try context.base.pathID(notFound: Self.notFoundDetail)
            let secret = WebhookSignature.makeSecret()
            return try await database.transaction { db in
                guard try await store.find(id, on: db) != nil else { throw Self.notFound }
                let now = clock.now()
                let overlapUntil = now.addingTimeInterval(WebhookEndpoint.rotationOverlap)
                try await store.rotate(id, to: secret, overlapUntil: overlapUntil, at: now, on: db)
                try await audit.record(
                    .init(actor: context.actor, action: "webhook.secret_rotated", target: id.description, origin: context.origin), on: db)
                guard let endpoint = try await store.find(id, on: db) else { throw Self.notFound }
                return EndpointResponse(endpoint: endpoint, secret: secret, now: now)
            }
        }

        routes.on(.get, "/v1/admin/webhooks/:id/deliveries", access: .admin) { request, context in
            let id: ID<WebhookEndpoint> = try context.base.pathID(notFound: Self.notFoundDetail)
            let page = try PageRequest(request)
            guard try await store.find(id, on: database) != nil else { throw Self.notFound }
            let records = try await store.deliveries(of: id, before: page.after, limit: page.limit + 1, on: database)
            return Page(records.map(DeliveryResponse.init), limit: page.limit, id: \.id)
        }

        routes.on(.post, "/v1/admin/webhooks/:id/deliveries/:delivery_id/redeliver", access: .admin) { _, context in
            let id: ID<WebhookEndpoint> = try context.base.pathID(notFound: Self.notFoundDetail)
            let deliveryID: ID<WebhookDeliveryRecord> = try context.base.pathID(
                "delivery_id", notFound: WebhookRedelivery.noDelivery)
            let (event, queuedAt) = try await WebhookRedelivery(
                store: store, outbox: outbox, jobs: jobs, audit: audit, clock: clock, ids: ids
            ).redeliver(deliveryID, of: id, by: context.actor, origin: context.origin, on: database)
            let queued = RedeliveryResponse(
                endpointID: id.description, eventID: event.id, eventType: event.type, queuedAt: Timestamp.string(from: queuedAt))
            return EditedResponse(status: .accepted, response: queued)
        }
    }

    // MARK: Input rules

    /// Sorted, each once, `*` alone when it is among them; nil with problems noted otherwise.
    static func checkEventTypes(_ types: [String]?, into errors: inout FieldErrors) -> [String]? {
        guard let types else { return nil }
        if types.isEmpty {
            errors.add("/event_types", "must name at least one event type, or * for all")
            return nil
        }
        var valid = true
        for (index, type) in types.enumerated()
        where type != WebhookEndpoint.allEvents && !WebhookEndpoint.eventTypes.contains(type) {
            errors.add("/event_types/\(index)", "must be * or one of " + WebhookEndpoint.eventTypes.joined(separator: ", "))
            valid = false
        }
        guard valid else { return nil }
        if types.contains(WebhookEndpoint.allEvents) { return [WebhookEndpoint.allEvents] }
        return Array(Set(types)).sorted()
    }
}
