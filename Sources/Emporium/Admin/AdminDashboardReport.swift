import EmporiumCore
import EmporiumStorage
import Foundation

/// The dashboard's periods; its figures are `SalesFigures`, as the sales report's are.
enum AdminDashboardReport {
    /// The start of the UTC day holding `date`, and of its ISO week (Monday).
    static func periods(at date: Date) -> (today: Date, week: Date) {
        let today = Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 86_400).rounded(.down) * 86_400)
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let week = calendar.dateInterval(of: .weekOfYear, for: today)?.start ?? today
        return (today, week)
    }
}
