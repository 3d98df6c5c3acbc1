import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `/v1/admin/inventory`: stock locations, levels, adjustments and the movement ledger.
struct InventoryRoutes {
    let database: any Database
    let store: InventoryStore
    let audit: AuditLog
    let cache: CatalogCache
    let idempotency: Idempotency
    let clock: any WallClock
    let ids: any IDGenerator

    struct LocationInput: Codable, Sendable {
        var code: String?
        var name: String?
    }

    struct LocationResponse: ResponseEncodable {
        let id: String
        let code: String
        let name: String
        let createdAt: String
        let updatedAt: String

        enum CodingKeys: String, CodingKey {
            case id, code, name
            case createdAt = "created_at"
            case updatedAt = "updated_at"
        }

        init(_ location: StockLocation) {
            id = location.id.description
            code = location.code
            name = location.name
            createdAt = Timestamp.string(from: location.createdAt)
            updatedAt = Timestamp.string(from: location.updatedAt)
        }
    }

    struct AdjustmentInput: Codable, Sendable {
        var sku: String?
        var variantID: String?
        var locationID: String?
        var delta: Int64?
        var count: Int64?
        var reason: String?
        var reference: String?

        enum CodingKeys: String, CodingKey {
            case sku, delta, count, reason, reference
            case variantID = "variant_id"
            case locationID = "location_id"
        }
    }

    struct LevelResponse: Codable, Sendable {
        let variantID: String
        let sku: String
        let productID: String
        let locationID: String
        let onHand: Int64
        let reserved: Int64
        let available: Int64
        let lowStockThreshold: Int64
        let updatedAt: String

        enum CodingKeys: String, CodingKey {
            case sku, reserved, available
            case variantID = "variant_id"
            case productID = "product_id"
            case locationID = "location_id"
            case onHand = "on_hand"
            case lowStockThreshold = "low_stock_threshold"
            case updatedAt = "updated_at"
        }

        init(_ level: InventoryLevel, variant: InventoryStore.StockVariant) {
            variantID = level.variantID.description
            sku = variant.sku
            productID = variant.productID
            locationID = level.locationID.description
            onHand = level.onHand
            reserved = level.reserved
            available = level.available
            lowStockThreshold = variant.lowStockThreshold
            updatedAt = Timestamp.string(from: level.updatedAt)
        }
    }

    struct MovementResponse: Codable, Sendable {
        let id: String
        let variantID: String
        let locationID: String
        let onHandDelta: Int64
        let reservedDelta: Int64
        let reason: String
        let reference: String?
        let actorID: String?
        let actorType: String?
        let createdAt: String

        enum CodingKeys: String, CodingKey {
            case id, reason, reference
            case variantID = "variant_id"
            case locationID = "location_id"
            case onHandDelta = "on_hand_delta"
            case reservedDelta = "reserved_delta"
            case actorID = "actor_id"
            case actorType = "actor_type"
            case createdAt = "created_at"
        }

        init(_ movement: InventoryMovement) {
            id = movement.id.description
            variantID = movement.variantID.description
            locationID = movement.locationID.description
            onHandDelta = movement.onHandDelta
            reservedDelta = movement.reservedDelta
            reason = movement.reason
            reference = movement.reference
            actorID = movement.actor?.id
            actorType = movement.actor?.type
            createdAt = Timestamp.string(from: movement.createdAt)
        }
    }

    struct AdjustmentResponse: Codable, Sendable {
        let level: LevelResponse
        let movement: MovementResponse
    }

    /// The reasons an adjustment may give; reservations and fulfilment write their own.
    static let reasons = ["received", "count", "correction", "damaged", "lost", "returned", "transfer"]

    func register(on routes: RouteRegistrar) {
        routes.on(.get, "/v1/admin/inventory/locations", access: .staff, orScope: .inventoryRead) { _, _ in
            Page(try await store.locations(on: database).map(LocationResponse.init), limit: Int.max, id: \.id)
        }

        routes.on(.post, "/v1/admin/inventory/locations", access: .staff, orScope: .inventoryWrite) { request, context in
            let input = try await request.decodeStrictJSON(as: LocationInput.self, context: context.base).value
            var errors: [Problem.FieldError] = []
            if let problem = input.code.map(CatalogRules.handleProblem) ?? "is required" {
                errors.append(.init(pointer: "/code", detail: problem))
            }
            if let problem = input.name.map({ CatalogRules.textProblem($0, maximum: 100) }) ?? "is required" {
                errors.append(.init(pointer: "/name", detail: problem))
            }
            guard errors.isEmpty, let code = input.code, let name = input.name else { throw Problem.validation(errors) }
            let now = clock.now()
            let location = StockLocation(id: ids.make(), code: code, name: name, createdAt: now, updatedAt: now)
            do {
                try await database.transaction { db in
                    try await store.insert(location, on: db)
                    try await audit.record(
                        .init(actor: context.actor, action: "location.created", target: location.id.description,
                              origin: context.origin), on: db)
                }
            } catch DatabaseError.uniqueViolation {
                throw Problem(.conflict, slug: "code-taken", title: "Code in use", detail: "Another location has this code.")
            }
            return EditedResponse(status: .created, response: LocationResponse(location))
        }

        routes.on(.get, "/v1/admin/inventory", access: .staff, orScope: .inventoryRead) { request, _ in
            try await levels(request)
        }

        routes.on(.get, "/v1/admin/inventory/movements", access: .staff, orScope: .inventoryRead) { request, _ in
            try await movements(request)
        }

        routes.on(.post, "/v1/admin/inventory/adjustments", access: .staff, orScope: .inventoryWrite) { request, context in
            let key = try Idempotency.key(of: request)
            let body = try await request.decodeStrictJSON(as: AdjustmentInput.self, context: context.base)
            let input = body.value
            let fingerprint = Idempotency.fingerprint(method: .post, path: "/v1/admin/inventory/adjustments", body: body.data)
            let stored = try await idempotency.perform(
                caller: "\(context.actor.type):\(context.actor.id)", key: key, fingerprint: fingerprint
            ) { db in
                let response = try await adjust(input, by: context, on: db)
                return Idempotency.Stored(status: .created, body: ByteBuffer(bytes: try JSONEncoder().encode(response)))
            }
            // The adjustment named its variant in the change log: show it here at once.
            await cache.catchUp(on: database)
            return stored
        }
    }

    func adjust(_ input: AdjustmentInput, by context: PrincipalContext, on db: any SQLExecutor) async throws -> AdjustmentResponse {
        var errors: [Problem.FieldError] = []
        if input.sku == nil, input.variantID == nil { errors.append(.init(pointer: "/sku", detail: "name the variant by sku or variant_id")) }
        if let text = input.variantID, ID<Variant>(text) == nil { errors.append(.init(pointer: "/variant_id", detail: "must be a variant id")) }
        let location = input.locationID.flatMap(ID<StockLocation>.init)
        if location == nil { errors.append(.init(pointer: "/location_id", detail: "must be a stock location id")) }
        switch (input.delta, input.count) {
        case (nil, nil), (.some, .some): errors.append(.init(pointer: "/delta", detail: "give exactly one of delta and count"))
        case (let delta?, nil) where delta == 0 || abs(delta) > 1_000_000_000:
            errors.append(.init(pointer: "/delta", detail: "must be a non-zero whole number up to 1000000000 either way"))
        case (nil, let count?) where !(0...1_000_000_000).contains(count):
            errors.append(.init(pointer: "/count", detail: "must be 0 to 1000000000"))
        default: break
        }
        if !Self.reasons.contains(input.reason ?? "") {
            errors.append(.init(pointer: "/reason", detail: "must be one of " + Self.reasons.joined(separator: ", ")))
        }
        if let reference = input.reference, let problem = CatalogRules.textProblem(reference, maximum: 200) {
            errors.append(.init(pointer: "/reference", detail: problem))
        }
        guard errors.isEmpty, let location, let reason = input.reason else { throw Problem.validation(errors) }

        let variant: InventoryStore.StockVariant?
        if let sku = input.sku {
            variant = try await store.variant(sku: sku, on: db)
        } else if let id = input.variantID.flatMap(ID<Variant>.init) {
            variant = try await store.variant(id, on: db)
        } else {
            variant = nil
        }
        guard let variant else {
            throw Problem.validation([.init(pointer: input.sku != nil ? "/sku" : "/variant_id", detail: "names no variant")])
        }
        guard try await store.location(location, on: db) else {
            throw Problem.validation([.init(pointer: "/location_id", detail: "names no stock location")])
        }
        let change: InventoryStore.Change = input.delta.map { .delta($0) } ?? .count(input.count ?? 0)
        let result = try await store.adjust(
            change, of: variant, at: location, reason: reason, reference: input.reference, actor: context.actor,
            at: clock.now(), on: db)
        guard case .applied(let level, let movement) = result else {
            if case .insufficient(let available) = result {
                throw Problem(.conflict, slug: "insufficient-stock", title: "Not enough stock",
                              detail: "On hand cannot fall below zero or below what is reserved; \(available) available.")
            }
            throw Problem.internalError
        }
        try await audit.record(
            .init(actor: context.actor, action: "inventory.adjusted", target: "\(variant.sku)@\(location)",
                  origin: context.origin), on: db)
        return AdjustmentResponse(level: LevelResponse(level, variant: variant), movement: MovementResponse(movement))
    }

    private func levels(_ request: Request) async throws -> Page<LevelResponse> {
        let query = request.uri.queryParameters
        let page = try PageRequest(request, cursorFields: 2)
        var filter = InventoryStore.LevelFilter(limit: page.limit)
        var errors: [Problem.FieldError] = []
        if let text = query["location"] {
            if let id = ID<StockLocation>(String(text)) { filter.location = id }
            else { errors.append(.init(parameter: "location", detail: "must be a stock location id")) }
        }
        filter.sku = query["sku"].map(String.init)
        if let below = query["below_threshold"] {
            switch below {
            case "true": filter.belowThreshold = true
            case "false": break
            default: errors.append(.init(parameter: "below_threshold", detail: "must be true or false"))
            }
        }
        guard errors.isEmpty else { throw Problem.validation(errors, detail: "The query has invalid parameters.") }
        if let after = page.afterKeys { filter.after = (after[0], after[1]) }
        let levels = try await store.levels(filter, on: database).map { LevelResponse($0, variant: $1) }
        return Page(levels, limit: page.limit, cursor: { KeysetCursor.encode([$0.sku, $0.locationID]) })
    }

    private func movements(_ request: Request) async throws -> Page<MovementResponse> {
        let query = request.uri.queryParameters
        let page = try PageRequest(request)
        var filter = InventoryStore.MovementFilter(after: page.after, limit: page.limit)
        filter.sku = query["sku"].map(String.init)
        if let text = query["location"] {
            guard let id = ID<StockLocation>(String(text)) else {
                throw Problem.validation([.init(parameter: "location", detail: "must be a stock location id")])
            }
            filter.location = id
        }
        return Page(try await store.movements(filter, on: database).map(MovementResponse.init), limit: page.limit, id: \.id)
    }
}
