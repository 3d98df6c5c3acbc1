import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes

/// A discount code: a percentage, or a fixed amount per currency; optionally only from a
/// subtotal, within a window, a number of times in all and per customer.
struct Discount: Sendable, Equatable {
    enum Kind: String, Sendable, Codable {
        case percentage
        case fixed
    }

    let id: ID<Discount>
    var code: String
    var kind: Kind
    var percentagePPM: Int64?
    /// Fixed amounts by currency code; a currency without one cannot use a fixed code.
    var amounts: [String: Int64]
    var minimumSubtotals: [String: Int64]
    var startsAt: Date?
    var endsAt: Date?
    var usageLimit: Int64?
    var perCustomerLimit: Int64?
    var timesUsed: Int64
    var active: Bool
    let createdAt: Date
    var updatedAt: Date

    /// The reduction for a cart in `currency` with `subtotal`, or why the code does not apply.
    func rule(currency: Currency, subtotal: Int64, at now: Date) -> Result<DiscountRule, DiscountRefusal> {
        guard active, startsAt.map({ $0 <= now }) ?? true else { return .failure(.notActive) }
        if let endsAt, endsAt <= now { return .failure(.expired) }
        if let usageLimit, timesUsed >= usageLimit { return .failure(.usedUp) }
        if let minimum = minimumSubtotals[currency.code], subtotal < minimum { return .failure(.belowMinimum(minimum)) }
        switch kind {
        case .percentage: return .success(.percentage(partsPerMillion: percentagePPM ?? 0))
        case .fixed:
            guard let amount = amounts[currency.code] else { return .failure(.otherCurrency) }
            return .success(.fixed(amount))
        }
    }
}

/// Why a code cannot be used on a cart, in words a shopper understands.
enum DiscountRefusal: Error, Sendable, Equatable {
    case unknown, notActive, expired, usedUp, usedUpByCustomer, otherCurrency, belowMinimum(Int64)

    var detail: String {
        switch self {
        case .unknown: "There is no such discount code."
        case .notActive: "This discount code is not active."
        case .expired: "This discount code has expired."
        case .usedUp: "This discount code has been used as often as it may be."
        case .usedUpByCustomer: "You have used this discount code as often as you may."
        case .otherCurrency: "This discount code does not apply in the cart's currency."
        case .belowMinimum(let minimum): "This discount code needs a subtotal of at least \(minimum) minor units."
        }
    }

    var problem: Problem {
        Problem(.conflict, slug: "discount-not-applicable", title: "Discount not applicable", detail: detail)
    }
}

/// The `discounts` and `discount_redemptions` tables.
struct DiscountStore: Sendable {
    let ids: any IDGenerator

    static func normalized(_ code: String) -> String {
        code.trimmingCharacters(in: .whitespaces).uppercased()
    }

    func save(_ discount: Discount, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO discounts (id, code, kind, percentage_ppm, amounts, minimum_subtotals, starts_at, ends_at, usage_limit,
                                   per_customer_limit, times_used, active, created_at, updated_at)
            VALUES (\(discount.id), \(discount.code), \(discount.kind.rawValue), \(discount.percentagePPM),
                    \(CatalogStore.json(discount.amounts)), \(CatalogStore.json(discount.minimumSubtotals)), \(discount.startsAt),
                    \(discount.endsAt), \(discount.usageLimit), \(discount.perCustomerLimit), 0, \(discount.active),
                    \(discount.createdAt), \(discount.updatedAt))
            ON CONFLICT (id) DO UPDATE SET code = excluded.code, kind = excluded.kind, percentage_ppm = excluded.percentage_ppm,
                amounts = excluded.amounts, minimum_subtotals = excluded.minimum_subtotals, starts_at = excluded.starts_at,
                ends_at = excluded.ends_at, usage_limit = excluded.usage_limit, per_customer_limit = excluded.per_customer_limit,
                active = excluded.active, updated_at = excluded.updated_at
            """)
    }

    func find(_ id: ID<Discount>, on db: any SQLExecutor) async throws -> Discount? {
        try await db.queryFirst("SELECT * FROM discounts WHERE id = \(id)").map(Self.decode)
    }

    func find(code: String, on db: any SQLExecutor) async throws -> Discount? {
        try await db.queryFirst("SELECT * FROM discounts WHERE code = \(Self.normalized(code))").map(Self.decode)
    }

    func list(after: String?, limit: Int, on db: any SQLExecutor) async throws -> [Discount] {
        try await db.query("""
            SELECT * FROM discounts WHERE \(after == nil) OR id > \(after ?? "") ORDER BY id LIMIT \(limit + 1)
            """).map(Self.decode)
    }

    /// Deletes a code nobody has used; a used one stays for the orders' sake (deactivate it).
    func delete(_ id: ID<Discount>, on db: any SQLExecutor) async throws -> Bool {
        try await !db.query("""
            DELETE FROM discounts WHERE id = \(id) AND NOT EXISTS (SELECT 1 FROM discount_redemptions WHERE discount_id = \(id))
            RETURNING id
            """).isEmpty
    }

    /// Takes one use of the code for an order. The count goes up in one conditional UPDATE, so
    /// concurrent checkouts can never pass the total limit; that UPDATE also locks the code's
    /// row until commit (PostgreSQL) or runs on the only writer (SQLite), so the per-customer
    /// count read after it sees every earlier use.
    func redeem(_ discount: Discount, order: ID<Order>, customer: String, at now: Date, on db: any SQLExecutor) async throws {
        let taken = try await db.queryFirst("""
            UPDATE discounts SET times_used = times_used + 1
            WHERE id = \(discount.id) AND active = \(true) AND (usage_limit IS NULL OR times_used < usage_limit)
            RETURNING times_used
            """)
        guard taken != nil else { throw DiscountRefusal.usedUp }
        if let limit = discount.perCustomerLimit {
            let used: Int64 = try await db.queryFirst("""
                SELECT COUNT(*) AS n FROM discount_redemptions WHERE discount_id = \(discount.id) AND customer = \(customer)
                """)?.decode("n") ?? 0
            guard used < limit else { throw DiscountRefusal.usedUpByCustomer }
        }
        try await db.execute("""
            INSERT INTO discount_redemptions (id, discount_id, order_id, customer, created_at)
            VALUES (\(ids.makeUUID().lowercasedString), \(discount.id), \(order), \(customer), \(now))
            """)
    }

    /// Gives an order's use of a code back, when the order is cancelled.
    func release(order: ID<Order>, on db: any SQLExecutor) async throws {
        guard let row = try await db.queryFirst("DELETE FROM discount_redemptions WHERE order_id = \(order) RETURNING discount_id") else {
            return
        }
        let discount: String = try row.decode("discount_id")
        try await db.execute("UPDATE discounts SET times_used = times_used - 1 WHERE id = \(discount) AND times_used > 0")
    }

    static func decode(_ row: SQLRow) throws -> Discount {
        let kind: String = try row.decode("kind")
        return Discount(
            id: try row.decode("id"), code: try row.decode("code"), kind: Discount.Kind(rawValue: kind) ?? .fixed,
            percentagePPM: try row.decode("percentage_ppm"),
            amounts: try CatalogStore.fromJSON(try row.decode("amounts"), as: [String: Int64].self),
            minimumSubtotals: try CatalogStore.fromJSON(try row.decode("minimum_subtotals"), as: [String: Int64].self),
            startsAt: try row.decode("starts_at"), endsAt: try row.decode("ends_at"), usageLimit: try row.decode("usage_limit"),
            perCustomerLimit: try row.decode("per_customer_limit"), timesUsed: try row.decode("times_used"),
            active: try row.decode("active"), createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
    }
}
