import EmporiumCore
import EmporiumStorage
import Foundation
import Hummingbird

/// `/v1/admin/discounts`: staff manage discount codes. PUT replaces a code's settings (its use
/// count stays); DELETE removes a code nobody has used, and a used one is deactivated instead.
struct DiscountRoutes {
    let database: any Database
    let store: DiscountStore
    let audit: AuditLog
    let clock: any WallClock
    let ids: any IDGenerator

    struct Input: Codable, Sendable {
        var code: String?
        var kind: String?
        var percentagePPM: Int64?
        var amounts: [CurrencyAmount]?
        var minimumSubtotals: [CurrencyAmount]?
        var startsAt: String?
        var endsAt: String?
        var usageLimit: Int64?
        var perCustomerLimit: Int64?
        var active: Bool?

        enum CodingKeys: String, CodingKey {
            case code, kind, amounts, active
            case percentagePPM = "percentage_ppm"
            case minimumSubtotals = "minimum_subtotals"
            case startsAt = "starts_at"
            case endsAt = "ends_at"
            case usageLimit = "usage_limit"
            case perCustomerLimit = "per_customer_limit"
        }
    }

    struct DiscountResponse: ResponseEncodable, Sendable {
        let id: String
        let code: String
        let kind: String
        @NullEncoded var percentagePPM: Int64?
        let amounts: [CurrencyAmount]
        let minimumSubtotals: [CurrencyAmount]
        @NullEncoded var startsAt: String?
        @NullEncoded var endsAt: String?
        @NullEncoded var usageLimit: Int64?
        @NullEncoded var perCustomerLimit: Int64?
        let timesUsed: Int64
        let active: Bool
        let createdAt: String
        let updatedAt: String

        enum CodingKeys: String, CodingKey {
            case id, code, kind, amounts, active
            case percentagePPM = "percentage_ppm"
            case minimumSubtotals = "minimum_subtotals"
            case startsAt = "starts_at"
            case endsAt = "ends_at"
            case usageLimit = "usage_limit"
            case perCustomerLimit = "per_customer_limit"
            case timesUsed = "times_used"
            case createdAt = "created_at"
            case updatedAt = "updated_at"
        }

        init(_ discount: Discount) {
            func list(_ amounts: [String: Int64]) -> [CurrencyAmount] {
                amounts.sorted { $0.key < $1.key }.map { CurrencyAmount(currency: $0.key, amount: $0.value) }
            }
            id = discount.id.description
            code = discount.code
            kind = discount.kind.rawValue
            percentagePPM = discount.percentagePPM
            amounts = list(discount.amounts)
            minimumSubtotals = list(discount.minimumSubtotals)
            startsAt = discount.startsAt.map(Timestamp.string)
            endsAt = discount.endsAt.map(Timestamp.string)
            usageLimit = discount.usageLimit
            perCustomerLimit = discount.perCustomerLimit
            timesUsed = discount.timesUsed
            active = discount.active
            createdAt = Timestamp.string(from: discount.createdAt)
            updatedAt = Timestamp.string(from: discount.updatedAt)
        }
    }

    func register(on routes: RouteRegistrar) {
        routes.on(.get, "/v1/admin/discounts", access: .staff) { request, _ in
            let page = try PageRequest(request)
            let rows = try await store.list(after: page.after, limit: page.limit, on: database)
            return Page(rows.map(DiscountResponse.init), limit: page.limit, id: \.id)
        }
        routes.on(.post, "/v1/admin/discounts", access: .staff) { request, context in
            let input = try await request.decodeStrictJSON(as: Input.self, context: context.base).value
            let now = clock.now()
            let discount = try Self.discount(from: input, id: ids.make(), timesUsed: 0, createdAt: now, updatedAt: now)
            try await save(discount, action: "discount.created", by: context)
            return EditedResponse(status: .created, response: DiscountResponse(discount))
        }
        routes.on(.put, "/v1/admin/discounts/:id", access: .staff) { request, context in
            let id: ID<Discount> = try context.base.pathID(notFound: "There is no such discount.")
            let input = try await request.decodeStrictJSON(as: Input.self, context: context.base).value
            guard let existing = try await store.find(id, on: database) else { throw Problem.notFound("There is no such discount.") }
            let discount = try Self.discount(
                from: input, id: id, timesUsed: existing.timesUsed, createdAt: existing.createdAt, updatedAt: clock.now())
            try await save(discount, action: "discount.updated", by: context)
            return DiscountResponse(discount)
        }
        routes.on(.delete, "/v1/admin/discounts/:id", access: .staff) { _, context in
            let id: ID<Discount> = try context.base.pathID(notFound: "There is no such discount.")
            try await database.transaction { db in
                guard try await store.find(id, on: db) != nil else { throw Problem.notFound("There is no such discount.") }
                guard try await store.delete(id, on: db) else {
                    throw Problem(.conflict, slug: "discount-in-use", title: "Discount in use",
                                  detail: "Orders used this code; set active to false instead of deleting it.")
                }
                try await audit.record(.init(actor: context.actor, action: "discount.deleted", target: id.description, origin: context.origin), on: db)
            }
            return Response(status: .noContent)
        }
    }

    private func save(_ discount: Discount, action: String, by context: AuthenticatedContext) async throws {
        do {
            try await database.transaction { db in
                try await store.save(discount, on: db)
                try await audit.record(.init(actor: context.actor, action: action, target: discount.code, origin: context.origin), on: db)
            }
        } catch DatabaseError.uniqueViolation {
            throw Problem(.conflict, slug: "code-taken", title: "Code in use", detail: "Another discount has this code.")
        }
    }

    static func discount(from input: Input, id: ID<Discount>, timesUsed: Int64, createdAt: Date, updatedAt: Date) throws -> Discount {
        var errors = FieldErrors()
        let code = input.code.map(DiscountStore.normalized)
        if let code = errors.required(code, "/code"),
            !(3...40).contains(code.count) || !code.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        {
            errors.add("/code", "must be 3 to 40 letters, digits, - or _")
        }
        let kind = errors.required(input.kind, "/kind").flatMap(Discount.Kind.init)
        if input.kind != nil, kind == nil { errors.add("/kind", "must be percentage or fixed") }
        let amounts = input.amounts ?? []
        CurrencyAmount.check(amounts, at: "/amounts", into: &errors)
        CurrencyAmount.check(input.minimumSubtotals ?? [], at: "/minimum_subtotals", into: &errors)
        switch kind {
        case .percentage?:
            if errors.required(input.percentagePPM, "/percentage_ppm") != nil {
                errors.number(input.percentagePPM, "/percentage_ppm", in: 1...1_000_000)
            }
            if !amounts.isEmpty { errors.add("/amounts", "only fixed discounts have amounts") }
        case .fixed?:
            if amounts.isEmpty { errors.add("/amounts", "a fixed discount needs an amount in at least one currency") }
            if input.percentagePPM != nil { errors.add("/percentage_ppm", "only percentage discounts have one") }
        case nil: break
        }
        func date(_ text: String?, _ pointer: String) -> Date? {
            guard let text else { return nil }
            guard let date = Timestamp.date(from: text) else {
                errors.add(pointer, "must be an RFC 3339 time such as 2026-12-01T00:00:00Z")
                return nil
            }
            return date
        }
        let startsAt = date(input.startsAt, "/starts_at")
        let endsAt = date(input.endsAt, "/ends_at")
        if let startsAt, let endsAt, endsAt <= startsAt { errors.add("/ends_at", "must be after starts_at") }
        errors.number(input.usageLimit, "/usage_limit", in: 1...1_000_000_000)
        errors.number(input.perCustomerLimit, "/per_customer_limit", in: 1...1_000_000)
        try errors.check()
        guard let code, let kind else { throw Problem.internalError }
        func dictionary(_ list: [CurrencyAmount]?) -> [String: Int64] {
            Dictionary(uniqueKeysWithValues: (list ?? []).map { ($0.currency, $0.amount) })
        }
        return Discount(
            id: id, code: code, kind: kind, percentagePPM: input.percentagePPM, amounts: dictionary(input.amounts),
            minimumSubtotals: dictionary(input.minimumSubtotals), startsAt: startsAt, endsAt: endsAt,
            usageLimit: input.usageLimit, perCustomerLimit: input.perCustomerLimit, timesUsed: timesUsed,
            active: input.active ?? true, createdAt: createdAt, updatedAt: updatedAt)
    }
}

extension DiscountRoutes.Input: CheckedBody {
    /// The rules that build the record, run on the body as it is decoded.
    func check(into errors: inout FieldErrors) {
        errors.collect { _ = try DiscountRoutes.discount(from: self, id: ID(UUID()), timesUsed: 0, createdAt: .distantPast, updatedAt: .distantPast) }
    }
}
