@testable import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// The dashboard and the order pages: what they show, and their actions through the order service.
@Suite struct AdminOrderPagesTests {
    /// A shop with manual capture, one customer order (authorized) and a staff member's browser.
    func withOrder(
        title: String = "Mug", _ body: @escaping @Sendable (TestApp, AdminTestBrowser, CommerceFixture, String) async throws -> Void
    ) async throws {
        try await withApp(configure: { $0.paymentCapture = .manual }) { app in
            let fixture = try await CommerceFixture(app)
            if title != "Mug" {
                let id = try #require(try await app.send(.get, "/v1/admin/products?limit=1", token: fixture.admin)
                    .jsonObject()["data"].flatMap { ($0 as? [[String: Any]])?.first?["id"] as? String })
                let renamed = try await app.send(.patch, "/v1/admin/products/\(id)", token: fixture.admin, json: #"{"title":"\#(title)"}"#)
                #expect(renamed.status == .ok, "\(renamed.text)")
            }
            let customer = try await app.signIn("customer@example.com", as: .customer)
            let cart = try await app.readyCart(fixture, quantity: 2, token: customer, email: "customer@example.com")
            let order = try await app.checkout(cart)
            #expect(order.status == .created || order.status == .ok, "\(order.text)")
            let orderID = try #require(try order.jsonObject()["id"] as? String)
            let browser = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff, name: "<i>Sam</i>")
            try await body(app, browser, fixture, orderID)
        }
    }

    @Test func theDashboardCountsTodaysOrdersAsTheSalesReportDoes() async throws {
        try await withOrder { app, browser, fixture, orderID in
            let page = try await browser.get("/admin")
            #expect(page.status == .ok)
            let html = page.text
            // The member's name is escaped like every value.
            #expect(html.contains("&lt;i&gt;Sam&lt;/i&gt; (staff)") && !html.contains("<i>Sam</i>"))
            let report = try await app.send(.get, "/v1/admin/reports/sales?interval=day", token: fixture.admin).jsonObject()
            let today = try #require((report["buckets"] as? [[String: Any]])?.last)
            let net = try #require(today["net_revenue"] as? Int)
            let revenue = Money(minorUnits: Int64(net), currency: .eur).description
            #expect(html.contains("<td>EUR</td><td class=\"num\">1</td><td class=\"num\">\(revenue)</td>"), "\(html)")
            #expect(html.contains("<svg class=\"chart\"") && html.contains("<rect class=\"bar\""))
            #expect(html.contains("href=\"/admin/orders/\(orderID)\">#1001</a>"))
            // 100 received, 2 reserved: not low. Lower the threshold's headroom and it shows.
            #expect(html.contains("Nothing at or below its threshold."))
            try await app.database.execute("UPDATE variants SET low_stock_threshold = 98")
            #expect(try await browser.get("/admin").text.contains("<td>MUG-1</td><td class=\"num\">98</td><td class=\"num\">98</td>"))
        }
    }

    /// Paid and partly shipped orders are one list, newest first, no longer than its ten rows.
    @Test func theDashboardListsOrdersWaitingForFulfilmentInOneList() async throws {
        try await withOrder { app, browser, fixture, orderID in
            for _ in 0..<11 { _ = try await app.placeOrder(fixture, quantity: 1) }
            // The first order partly shipped, the eleven after it paid: the newest ten show.
            try await app.database.execute("UPDATE orders SET status = 'partially_fulfilled' WHERE id = \(orderID)")
            try await app.database.execute("UPDATE orders SET status = 'paid' WHERE id <> \(orderID)")
            var html = try await browser.get("/admin").text
            #expect(html.components(separatedBy: " · paid</li>").count - 1 == 10, "\(html)")
            #expect(!html.contains("href=\"/admin/orders/\(orderID)\">"))
            // With fewer paid ones, the partly shipped order shows beside them.
            try await app.database.execute("UPDATE orders SET status = 'fulfilled' WHERE status = 'paid' AND number > 1005")
            html = try await browser.get("/admin").text
            #expect(html.contains("href=\"/admin/orders/\(orderID)\">#1001</a> customer@example.com · partially_fulfilled</li>"), "\(html)")
            #expect(html.components(separatedBy: " · paid</li>").count - 1 == 4)
        }
    }

    @Test func theOrderListFiltersAndPages() async throws {
        try await withOrder { app, browser, fixture, orderID in
            let customer = try await app.signIn("second@example.com", as: .customer)
            let cart = try await app.readyCart(fixture, token: customer, email: "second@example.com")
            #expect(try await app.checkout(cart).status.code < 300)
            let all = try await browser.get("/admin/orders")
            #expect(all.status == .ok)
            #expect(all.text.contains("#1001") && all.text.contains("#1002"))
            let byEmail = try await browser.get("/admin/orders?email=CUSTOMER%40example.com")
            #expect(byEmail.text.contains("#1001") && !byEmail.text.contains("#1002"))
            let byNumber = try await browser.get("/admin/orders?number=%231002")
            #expect(!byNumber.text.contains("#1001") && byNumber.text.contains("#1002"))
            let byStatus = try await browser.get("/admin/orders?status=paid")
            #expect(byStatus.text.contains("No orders match."))
            #expect(try await browser.get("/admin/orders?status=authorized&from=2000-01-01&to=2100-01-01").text.contains("#1001"))
            let bad = try await browser.get("/admin/orders?number=abc&from=yesterday")
            #expect(bad.status == .ok)
            #expect(bad.text.contains("Number: an order number such as 1001.") && bad.text.contains("From: a date."))
            #expect(try await browser.get("/admin/orders?email=nobody%40example.com").text.contains("No customer account has the e-mail"))
            let first = try await browser.get("/admin/orders?limit=1")
            #expect(first.text.contains("#1002") && !first.text.contains("#1001"))
            let next = try #require(first.text.range(of: "href=\"/admin/orders?cursor=").map { range in
                String(first.text[range.lowerBound...].dropFirst(6).prefix { $0 != "\"" })
            })
            let second = try await browser.get(next.replacingOccurrences(of: "&amp;", with: "&"))
            #expect(second.text.contains("#1001") && !second.text.contains("#1002"), "\(next)")
            #expect(try await browser.get("/admin/orders?cursor=forged").status == .badRequest)
            #expect(try await browser.get("/admin/orders/\(orderID)").status == .ok)
            #expect(try await browser.get("/admin/orders/0193a1b2-0000-7000-8000-000000000000").status == .notFound)
            #expect(try await browser.get("/admin/orders/not-an-id").status == .notFound)
        }
    }

    @Test func staffCaptureRefundAndFulfilAnOrderFromItsPage() async throws {
        try await withOrder(title: "<script>alert(1)</script> Mug") { app, browser, fixture, orderID in
            let path = "/admin/orders/\(orderID)"
            let page = try await browser.get(path)
            #expect(page.text.contains("&lt;script&gt;alert(1)&lt;/script&gt; Mug") && !page.text.contains("<script>alert"))
            #expect(page.text.contains("action=\"\(path)/capture\"") && page.text.contains("action=\"\(path)/cancel\""))
            #expect(!page.text.contains("action=\"\(path)/refunds\""))

            // Without the ticked box nothing happens.
            let unconfirmed = try await browser.post("\(path)/capture")
            #expect(unconfirmed.status == .seeOther && unconfirmed.headers[.location] == path)
            let told = try await browser.get(path)
            #expect(told.text.contains("Tick the box to confirm; nothing was changed.") && told.text.contains("(authorized)"))
            // The message is shown once.
            #expect(!(try await browser.get(path).text.contains("Tick the box")))

            #expect(try await browser.post("\(path)/capture", [("amount", ""), ("confirm", "yes")]).status == .seeOther)
            let captured = try await browser.get(path)
            #expect(captured.text.contains("Order #1001 is paid.") && captured.text.contains("(paid)"), "\(captured.text)")
            // Sent again (a resent form): still one capture in the audit log.
            #expect(try await browser.post("\(path)/capture", [("amount", ""), ("confirm", "yes")]).status == .seeOther)

            let lineID = try #require(try await app.database.queryFirst("SELECT id FROM order_lines")?.decode("id", as: String.self))
            func fulfil(_ quantity: String, tracking: String, from page: TestResponse) throws -> [(String, String)] {
                let version = try #require(AdminTestBrowser.field("order_version", in: page.text))
                return [
                    ("location_id", fixture.location), ("quantity_\(lineID)", quantity), ("carrier", "DHL"),
                    ("tracking_number", tracking), ("order_version", version), ("confirm", "yes"),
                ]
            }
            let first = try fulfil("1", tracking: "JD0001", from: try await browser.get(path))
            #expect(try await browser.post("\(path)/fulfillments", first).status == .seeOther)
            let partly = try await browser.get(path)
            #expect(partly.text.contains("Shipped; order #1001 is partially_fulfilled."), "\(partly.text)")
            // The same form sent again (a double click, or back and resend) ships nothing more.
            #expect(try await browser.post("\(path)/fulfillments", first).status == .seeOther)
            #expect(try await browser.get(path).text.contains("The order changed since this was asked for"))
            let shipments = try await app.database.queryFirst("SELECT COUNT(*) AS n FROM fulfillments")
            #expect(try shipments?.decode("n", as: Int64.self) == 1)
            #expect(try await browser.post("\(path)/fulfillments", try fulfil("1", tracking: "JD0002", from: partly)).status == .seeOther)
            let shipped = try await browser.get(path)
            #expect(shipped.text.contains("Shipped; order #1001 is fulfilled."), "\(shipped.text)")
            #expect(shipped.text.contains("<td>DHL</td><td>JD0001</td>"))
            #expect(shipped.text.contains("order.fulfilled") && shipped.text.contains("order.paid"))

            let refundKey = try #require(AdminTestBrowser.field("refund_key", in: shipped.text))
            let refund = [("amount", "2.50"), ("reason", "Chipped <b>handle</b>"), ("refund_key", refundKey), ("confirm", "yes")]
            #expect(try await browser.post("\(path)/refunds", refund).status == .seeOther)
            #expect(try await browser.get(path).text.contains("Chipped &lt;b&gt;handle&lt;/b&gt;"))
            // The same form sent again refunds once.
            #expect(try await browser.post("\(path)/refunds", refund).status == .seeOther)
            #expect(try await browser.get(path).text.contains("This refund form was already sent"))
            let refunds = try await app.database.queryFirst("SELECT COUNT(*) AS n, SUM(amount) AS total FROM refunds")
            #expect(try refunds?.decode("n", as: Int64.self) == 1 && refunds?.decode("total", as: Int64.self) == 250)
            let tooMuch = try await browser.post(
                "\(path)/refunds", [("amount", "abc"), ("refund_key", String(repeating: "k", count: 20)), ("confirm", "yes")])
            #expect(tooMuch.status == .seeOther)
            #expect(try await browser.get(path).text.contains("must be an amount such as 12.50 in EUR"))

            // Another refund form sent from six tabs at once: one refund, audited once.
            let again = try #require(AdminTestBrowser.field("refund_key", in: try await browser.get(path).text))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<6 {
                    let tab = browser.tab()
                    group.addTask {
                        _ = try await tab.post("\(path)/refunds", [("amount", "1.00"), ("refund_key", again), ("confirm", "yes")])
                    }
                }
                try await group.waitForAll()
            }
            let both = try await app.database.queryFirst("SELECT COUNT(*) AS n, SUM(amount) AS total FROM refunds")
            #expect(try both?.decode("n", as: Int64.self) == 2 && both?.decode("total", as: Int64.self) == 350)

            let actions = try await app.database.query("""
                SELECT action FROM audit_log WHERE action IN ('order.captured', 'order.refund_requested', 'order.fulfilled')
                ORDER BY chain_sequence
                """).map { try $0.decode("action", as: String.self) }
            #expect(actions == ["order.captured", "order.fulfilled", "order.fulfilled", "order.refund_requested", "order.refund_requested"])
        }
    }

    @Test func cancellingAsksFirstAndReleasesTheStock() async throws {
        try await withOrder { app, browser, _, orderID in
            let path = "/admin/orders/\(orderID)"
            _ = try await browser.get(path)
            #expect(try await browser.post("\(path)/cancel", [("reason", "customer called")]).status == .seeOther)
            #expect(try await app.database.queryFirst("SELECT status FROM orders")?.decode("status", as: String.self) == "authorized")
            #expect(try await browser.post("\(path)/cancel", [("reason", "customer called"), ("confirm", "yes")]).status == .seeOther)
            let cancelled = try await browser.get(path)
            #expect(cancelled.text.contains("Order #1001 is cancelled.") && cancelled.text.contains("Cancelled: customer called"))
            #expect(try await app.database.queryFirst("SELECT SUM(reserved) AS n FROM inventory_levels")?.decode("n", as: Int64.self) == 0)
            // Cancelling again is the service's conflict, shown on the page.
            #expect(try await browser.post("\(path)/cancel", [("confirm", "yes")]).status == .seeOther)
            #expect(try await browser.get(path).text.contains("cannot be cancelled"))
        }
    }
}
