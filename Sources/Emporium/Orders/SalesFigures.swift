import EmporiumCore
import EmporiumStorage
import Foundation

/// Sales per UTC day and currency, the one place they are counted: orders placed in the
/// period (payment authorized) less those cancelled before their payment was captured, which
/// took no money; gross revenue is their totals; refunds are those paid out that day, so a
/// refund lowers the day it was paid, not the day the order was placed. The sales report and
/// the back office's dashboard both read these.
struct SalesFigures: Sendable {
    struct Day: Sendable, Equatable {
        /// `YYYY-MM-DD`, UTC.
        let day: String
        let currency: String
        var orders: Int64 = 0
        var gross: Int64 = 0
        var discounts: Int64 = 0
        var refunds: Int64 = 0
        var net: Int64 { gross - refunds }
    }

    /// Days from `from` (inclusive) to `to` (exclusive) that had orders or refunds, by day then currency.
    func days(from: Date, to: Date, on db: any SQLExecutor) async throws -> [Day] {
        var days: [String: Day] = [:]
        func key(_ row: SQLRow) throws -> String {
            let day: String = try row.decode("day"), currency: String = try row.decode("currency")
            let key = day + " " + currency
            if days[key] == nil { days[key] = Day(day: day, currency: currency) }
            return key
        }
        for row in try await db.query("""
            SELECT substr(o.placed_at, 1, 10) AS day, o.currency, COUNT(*) AS orders,
                   CAST(SUM(o.total) AS BIGINT) AS gross, CAST(SUM(o.discount) AS BIGINT) AS discounts
            FROM orders o JOIN payments p ON p.order_id = o.id
            WHERE o.placed_at >= \(from) AND o.placed_at < \(to) AND NOT (o.status = 'cancelled' AND p.captured = 0)
            GROUP BY substr(o.placed_at, 1, 10), o.currency
            """) {
            let key = try key(row)
            days[key]?.orders += try row.decode("orders")
            days[key]?.gross += try row.decode("gross")
            days[key]?.discounts += try row.decode("discounts")
        }
        for row in try await db.query("""
            SELECT substr(r.created_at, 1, 10) AS day, p.currency, CAST(SUM(r.amount) AS BIGINT) AS refunds
            FROM refunds r JOIN payments p ON p.id = r.payment_id
            WHERE r.status = 'succeeded' AND r.created_at >= \(from) AND r.created_at < \(to)
            GROUP BY substr(r.created_at, 1, 10), p.currency
            """) {
            days[try key(row)]?.refunds += try row.decode("refunds")
        }
        return days.values.sorted { ($0.day, $0.currency) < ($1.day, $1.currency) }
    }
}
