import EmporiumCore
import Foundation

/// `/admin`: the dashboard. Today's and this week's orders and revenue per currency, a bar
/// chart of this week's revenue per day drawn on the server (SVG with attributes only, which
/// the Content-Security-Policy allows), orders waiting for capture or fulfilment, and variants
/// at or below their low-stock threshold.
enum AdminDashboardPage: AdminSection {
    static let templates: [String: [UInt8]] = [:]
    /// Rows of each waiting list on the dashboard; the order list shows the rest.
    static let listed = 10

    static func register(on routes: AdminRoutes, services: BackOfficeServices) {
        let figures = SalesFigures()
        routes.page("/admin", access: .roleOrScope(.staff, .reportsRead), menu: .init(label: "Dashboard", order: 0)) { _, context in
            let now = services.clock.now()
            let (today, week) = AdminDashboardReport.periods(at: now)
            let days = try await figures.days(from: week, to: week.addingTimeInterval(7 * 86_400), on: services.reports)
            let todayKey = String(Timestamp.string(from: today).prefix(10))
            var values: [String: Any] = ["currencies": summary(days, today: todayKey, week: week)]
            values["charts"] = Set(days.map(\.currency)).sorted().map { chart(days, currency: $0, week: week) }
            let orders = services.orders
            func waiting(_ statuses: OrderStatus...) async throws -> [[String: Any]] {
                try await orders.store.list(.init(statuses: statuses, limit: listed), on: services.database).prefix(listed).map(orderRow)
            }
            values["to_capture"] = try await waiting(.authorized)
            // One list, newest first, of orders with something left to ship.
            values["to_fulfil"] = try await waiting(.paid, .partiallyFulfilled)
            values["low_stock"] = try await services.inventory.levels(
                .init(belowThreshold: true, limit: listed), on: services.database
            ).prefix(listed).map { level, variant in
                [
                    "sku": variant.sku, "product_id": variant.productID, "location": level.locationID.description,
                    "available": level.onHand - level.reserved, "threshold": variant.lowStockThreshold,
                ] as [String: Any]
            }
            values["today"] = todayKey
            return context.render("dashboard", title: "Dashboard", values)
        }
    }

    static func orderRow(_ order: Order) -> [String: Any] {
        [
            "id": order.id.description, "number": order.displayNumber, "email": order.email, "status": order.status.rawValue,
            "total": Money(minorUnits: order.total, currency: order.currency).description,
            "created": Timestamp.string(from: order.createdAt),
        ]
    }

    /// Per currency: today's and this week's orders and net revenue (refunds paid out taken off).
    static func summary(_ days: [SalesFigures.Day], today: String, week: Date) -> [[String: Any]] {
        Set(days.map(\.currency)).sorted().map { code in
            let mine = days.filter { $0.currency == code }
            let todays = mine.filter { $0.day == today }
            return [
                "currency": code,
                "today_orders": todays.reduce(0) { $0 + $1.orders },
                "today_revenue": money(todays.reduce(0) { $0 + $1.net }, code),
                "week_orders": mine.reduce(0) { $0 + $1.orders },
                "week_revenue": money(mine.reduce(0) { $0 + $1.net }, code),
            ]
        }
    }

    /// Bars of this week's revenue per day in one currency, with their geometry worked out here.
    static func chart(_ days: [SalesFigures.Day], currency code: String, week: Date) -> [String: Any] {
        let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        let revenue = (0..<7).map { offset -> Int64 in
            let day = String(Timestamp.string(from: week.addingTimeInterval(Double(offset) * 86_400)).prefix(10))
            return days.filter { $0.currency == code && $0.day == day }.reduce(0) { $0 + $1.net }
        }
        let top = max(revenue.max() ?? 0, 1)
        let height = 150.0, slot = 60.0, width = 40.0, base = 170.0
        let bars = revenue.enumerated().map { index, amount -> [String: Any] in
            // A day whose refunds outweigh its sales draws no bar; its title still says the figure.
            let barHeight = (Double(max(amount, 0)) / Double(top) * height).rounded()
            return [
                "x": Int(Double(index) * slot + 10), "y": Int(base - barHeight), "width": Int(width), "height": Int(barHeight),
                "label_x": Int(Double(index) * slot + 10 + width / 2), "day": names[index], "value": money(amount, code),
            ]
        }
        return ["currency": code, "bars": bars, "peak": money(top == 1 && revenue.allSatisfy { $0 == 0 } ? 0 : top, code)]
    }

    static func money(_ minorUnits: Int64, _ code: String) -> String {
        guard let currency = Currency(code: code) else { return "\(minorUnits) \(code)" }
        return Money(minorUnits: minorUnits, currency: currency).description
    }
}
