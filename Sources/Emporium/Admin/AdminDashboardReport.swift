import EmporiumCore
import EmporiumStorage
import Foundation

/// The dashboard's sales figures: orders and revenue per UTC day and currency, counted as the
/// sales report counts them (`SalesReportRoutes`: orders placed in the period, less those
/// cancelled before their payment was captured; gross revenue is their totals). The report's
/// query sits inside its route and reads a request, so the dashboard asks the same question
/// here; `AdminDashboardTests` checks both answers agree.
struct AdminDashboardReport: Sendable {
    struct Day: Sendable, Equatable {
        /// `YYYY-MM-DD`, UTC.
        let day: String
        let currency: String
        let orders: Int64
        let revenue: Int64
    }

    /// Days from `from` (inclusive) to `to` (exclusive) that had orders.
    func days(from: Date, to: Date, on db: any SQLExecutor) async throws -> [Day] {
        try await db.query("""
            SELECT substr(o.placed_at, 1, 10) AS day, o.currency, COUNT(*) AS orders, CAST(SUM(o.total) AS BIGINT) AS gross
            FROM orders o JOIN payments p ON p.order_id = o.id
            WHERE o.placed_at >= \(from) AND o.placed_at < \(to) AND NOT (o.status = 'cancelled' AND p.captured = 0)
            GROUP BY substr(o.placed_at, 1, 10), o.currency
            """).map { row in
            Day(day: try row.decode("day"), currency: try row.decode("currency"), orders: try row.decode("orders"),
                revenue: try row.decode("gross"))
        }
    }

    /// The start of the UTC day holding `date`, and of its ISO week (Monday).
    static func periods(at date: Date) -> (today: Date, week: Date) {
        let today = Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 86_400).rounded(.down) * 86_400)
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let week = calendar.dateInterval(of: .weekOfYear, for: today)?.start ?? today
        return (today, week)
    }
}
