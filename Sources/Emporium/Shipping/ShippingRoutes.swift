import EmporiumCore
import EmporiumStorage
import Foundation
import Hummingbird

/// `/v1/admin/shipping-methods`: admins set how parcels are priced. PUT replaces a method
/// whole; carts that chose a deleted method simply have none chosen any more.
struct ShippingRoutes {
    let database: any Database
    let store: ShippingMethodStore
    let audit: AuditLog
    let clock: any WallClock
    let ids: any IDGenerator

    struct Input: Codable, Sendable {
        var name: String?
        var currency: String?
        var flatAmount: Int64?
        var tiers: [ShippingRule.WeightTier]?
        var freeOver: Int64?
        var countries: [String]?
        var active: Bool?

        enum CodingKeys: String, CodingKey {
            case name, currency, tiers, countries, active
            case flatAmount = "flat_amount"
            case freeOver = "free_over"
        }
    }

    struct MethodResponse: ResponseEncodable, Sendable {
        let id: String
        let name: String
        let currency: String
        let flatAmount: Int64
        let tiers: [ShippingRule.WeightTier]
        @NullEncoded var freeOver: Int64?
        let countries: [String]
        let active: Bool
        let createdAt: String
        let updatedAt: String

        enum CodingKeys: String, CodingKey {
            case id, name, currency, tiers, countries, active
            case flatAmount = "flat_amount"
            case freeOver = "free_over"
            case createdAt = "created_at"
            case updatedAt = "updated_at"
        }

        init(_ method: ShippingMethod) {
            id = method.id.description
            name = method.name
            currency = method.currency.code
            flatAmount = method.rule.flatAmount
            tiers = method.rule.tiers
            freeOver = method.rule.freeOver
            countries = method.countries
            active = method.active
            createdAt = Timestamp.string(from: method.createdAt)
            updatedAt = Timestamp.string(from: method.updatedAt)
        }
    }

    func register(on routes: RouteRegistrar) {
        routes.on(.get, "/v1/admin/shipping-methods", access: .admin) { _, _ in
            Page(try await store.all(on: database).map(MethodResponse.init), limit: Int.max, id: \.id)
        }
        routes.on(.post, "/v1/admin/shipping-methods", access: .admin) { request, context in
            let input = try await request.decodeStrictJSON(as: Input.self, context: context.base).value
            let now = clock.now()
            let method = try Self.method(from: input, id: ids.make(), createdAt: now, updatedAt: now)
            try await database.transaction { db in
                try await store.insert(method, on: db)
                try await audit.record(.init(actor: context.actor, action: "shipping_method.created", target: method.id.description, origin: context.origin), on: db)
            }
            return EditedResponse(status: .created, response: MethodResponse(method))
        }
        routes.on(.put, "/v1/admin/shipping-methods/:id", access: .admin) { request, context in
            let id: ID<ShippingMethod> = try context.base.pathID(notFound: "There is no such shipping method.")
            let input = try await request.decodeStrictJSON(as: Input.self, context: context.base).value
            return try await database.transaction { db in
                guard let existing = try await store.find(id, on: db) else { throw Problem.notFound("There is no such shipping method.") }
                let method = try Self.method(from: input, id: id, createdAt: existing.createdAt, updatedAt: clock.now())
                try await store.update(method, on: db)
                try await audit.record(.init(actor: context.actor, action: "shipping_method.updated", target: id.description, origin: context.origin), on: db)
                return MethodResponse(method)
            }
        }
        routes.on(.delete, "/v1/admin/shipping-methods/:id", access: .admin) { _, context in
            let id: ID<ShippingMethod> = try context.base.pathID(notFound: "There is no such shipping method.")
            try await database.transaction { db in
                guard try await store.delete(id, on: db) else { throw Problem.notFound("There is no such shipping method.") }
                try await audit.record(.init(actor: context.actor, action: "shipping_method.deleted", target: id.description, origin: context.origin), on: db)
            }
            return Response(status: .noContent)
        }
    }

    static func method(from input: Input, id: ID<ShippingMethod>, createdAt: Date, updatedAt: Date) throws -> ShippingMethod {
        var errors = FieldErrors()
        errors.text(input.name, "/name", maximum: 100)
        let currency = errors.currency(input.currency, "/currency")
        errors.amount(input.flatAmount, "/flat_amount")
        errors.amount(input.freeOver, "/free_over")
        let tiers = input.tiers ?? []
        if input.flatAmount == nil, tiers.isEmpty { errors.add("/flat_amount", "give a flat_amount or weight tiers") }
        if tiers.count > 50 { errors.add("/tiers", "must hold at most 50 tiers") }
        if Set(tiers.map(\.maximumGrams)).count != tiers.count { errors.add("/tiers", "must not repeat a weight") }
        for (index, tier) in tiers.enumerated() {
            errors.number(tier.maximumGrams, "/tiers/\(index)/max_grams", in: 1...100_000_000)
            errors.amount(tier.amount, "/tiers/\(index)/amount")
        }
        let countries = (input.countries ?? []).map { $0.uppercased() }
        if countries.count > 300 { errors.add("/countries", "must hold at most 300 countries") }
        for (index, country) in countries.enumerated() { errors.country(country, "/countries/\(index)") }
        try errors.check()
        guard let name = input.name, let currency else { throw Problem.internalError }
        return ShippingMethod(
            id: id, name: name, currency: currency,
            rule: ShippingRule(flatAmount: input.flatAmount ?? 0, tiers: tiers, freeOver: input.freeOver),
            countries: Array(Set(countries)).sorted(), active: input.active ?? true, createdAt: createdAt, updatedAt: updatedAt)
    }
}

extension ShippingRoutes.Input: CheckedBody {
    /// The rules that build the record, run on the body as it is decoded.
    func check(into errors: inout FieldErrors) {
        errors.collect { _ = try ShippingRoutes.method(from: self, id: ID(UUID()), createdAt: .distantPast, updatedAt: .distantPast) }
    }
}
