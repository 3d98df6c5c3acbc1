import EmporiumCore
import EmporiumStorage
import Foundation
import Hummingbird

/// `GET /v1/admin/reports/sales?from=&to=&interval=day|week|month` (`to` exclusive; the last
/// 30 days by default): per bucket (UTC; weeks
/// start on Monday) and currency, the orders placed (payment authorized), their gross revenue
/// and discounts, refunds paid out in the bucket, net revenue (gross − refunds) and the average
/// order value (gross ÷ orders, rounded down), as `SalesFigures` counts them. The database
/// groups by day; days are folded into weeks and months here.
struct SalesReportRoutes {
    let clock: any WallClock

    enum Interval: String {
        case day, week, month
    }

    struct Bucket: Encodable, Sendable {
        let start: String
        let currency: String
        var orders: Int64 = 0
        var grossRevenue: Int64 = 0
        var discounts: Int64 = 0
        var refunds: Int64 = 0
        var netRevenue: Int64 { grossRevenue - refunds }
        var averageOrderValue: Int64 { orders == 0 ? 0 : grossRevenue / orders }

        enum CodingKeys: String, CodingKey {
            case start, currency, orders, discounts, refunds
            case grossRevenue = "gross_revenue"
            case netRevenue = "net_revenue"
            case averageOrderValue = "average_order_value"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(start, forKey: .start)
            try container.encode(currency, forKey: .currency)
            try container.encode(orders, forKey: .orders)
            try container.encode(grossRevenue, forKey: .grossRevenue)
            try container.encode(discounts, forKey: .discounts)
            try container.encode(refunds, forKey: .refunds)
            try container.encode(netRevenue, forKey: .netRevenue)
            try container.encode(averageOrderValue, forKey: .averageOrderValue)
        }
    }

    struct Report: ResponseEncodable {
        let from: String
        let to: String
        let interval: String
        let buckets: [Bucket]
    }

    /// `reports` is a replica when there is one (`--database-read-url`): a report shows what
    /// was committed up to a moment ago, and reads a lot.
    func register(on routes: RouteRegistrar, reading reports: any Database) {
        routes.on(.get, "/v1/admin/reports/sales", access: .staff, orScope: .reportsRead) { request, _ in
            try await report(request, on: reports)
        }
    }

    private func report(_ request: Request, on database: any Database) async throws -> Report {
        let query = request.uri.queryParameters
        var errors: [Problem.FieldError] = []
        func date(_ name: String, default value: Date) -> Date {
            guard let text = query[name[...]].map(String.init) else { return value }
            if let date = Timestamp.date(from: text) ?? Timestamp.date(from: text + "T00:00:00Z") { return date }
            errors.append(.init(parameter: name, detail: "must be a date (2026-11-01) or an RFC 3339 time"))
            return value
        }
        // By default: the 30 days up to and including today (UTC).
        let endOfToday = (clock.now().timeIntervalSince1970 / 86_400).rounded(.down) * 86_400 + 86_400
        let to = date("to", default: Date(timeIntervalSince1970: endOfToday))
        let from = date("from", default: to.addingTimeInterval(-30 * 86_400))
        let interval = Interval(rawValue: query["interval"].map(String.init) ?? "day")
        if interval == nil { errors.append(.init(parameter: "interval", detail: "must be day, week or month")) }
        if from >= to { errors.append(.init(parameter: "to", detail: "must be after from")) }
        if to.timeIntervalSince(from) > 3_660 * 86_400 { errors.append(.init(parameter: "from", detail: "a report spans at most ten years")) }
        guard errors.isEmpty, let interval else { throw Problem.validation(errors, detail: "The query has invalid parameters.") }

        var buckets: [String: Bucket] = [:]
        for day in try await SalesFigures().days(from: from, to: to, on: database) {
            let start = Self.bucketStart(day: day.day, interval: interval)
            let key = start + " " + day.currency
            var bucket = buckets[key] ?? Bucket(start: start, currency: day.currency)
            bucket.orders += day.orders
            bucket.grossRevenue += day.gross
            bucket.discounts += day.discounts
            bucket.refunds += day.refunds
            buckets[key] = bucket
        }
        return Report(
            from: Timestamp.string(from: from), to: Timestamp.string(from: to), interval: interval.rawValue,
            buckets: buckets.values.sorted { ($0.start, $0.currency) < ($1.start, $1.currency) })
    }

    /// The first day of the bucket holding `day` (`YYYY-MM-DD`).
    static func bucketStart(day: String, interval: Interval) -> String {
        switch interval {
        case .day: return day
        case .month: return String(day.prefix(7)) + "-01"
        case .week:
            var calendar = Calendar(identifier: .iso8601)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            guard let date = Timestamp.date(from: day + "T00:00:00Z"),
                let monday = calendar.dateInterval(of: .weekOfYear, for: date)?.start
            else { return day }
            return String(Timestamp.string(from: monday).prefix(10))
        }
    }
}
