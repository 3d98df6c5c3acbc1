@testable import Emporium
import EmporiumCore
import EmporiumStorage
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// The back office's webhook, job, discount, shipping method and tax rate pages: their HTML, redirects, CSRF refusal, the admin
/// role they need, escaping, a webhook secret shown once, and the audit entries of the JSON routes.
@Suite struct AdminOperationsTests {
    @Test func adminsCreateWebhooksAndSeeTheSecretOnce() async throws {
        try await withApp { app in
            let admin = try await AdminTestBrowser.signedIn(app, "boss@example.com", as: .admin)
            #expect(try await admin.get("/admin/webhooks").text.contains("No webhook endpoints yet."))
            let created = try await admin.post("/admin/webhooks", [
                ("url", "http://127.0.0.1:9/hooks"), ("event_types", "order.paid, order.created"),
                ("description", "<script>alert(1)</script>"),
            ])
            #expect(created.status == .created)
            #expect(created.headers[.cacheControl] == "no-store")
            let secret = try #require(created.text.range(of: "id=\"webhook-secret\" value=\"").map { range in
                String(created.text[range.upperBound...].prefix { $0 != "\"" })
            })
            #expect(secret.hasPrefix(WebhookSignature.secretPrefix) && secret.count > 20)
            let id = try #require(try await app.database.queryFirst("SELECT id FROM webhook_endpoints")?.decode("id", as: String.self))

            let list = try await admin.get("/admin/webhooks")
            #expect(list.status == .ok && list.text.contains("http://127.0.0.1:9/hooks") && list.text.contains("order.created order.paid"))
            #expect(!list.text.contains("<script>alert") && list.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            let page = try await admin.get("/admin/webhooks/\(id)")
            #expect(page.status == .ok && page.text.contains("No deliveries yet."))
            // Shown once: neither the list nor the endpoint's page has it.
            #expect(!list.text.contains(secret) && !page.text.contains(secret))
            #expect(try await Self.audited(app, "webhook.created") == 1)

            // The JSON route's rules: a bad event type and a URL that is no URL change nothing.
            let refused = try await admin.post("/admin/webhooks", [("url", "not a url"), ("event_types", "order.nope")])
            #expect(refused.status == .seeOther && refused.headers[.location] == "/admin/webhooks")
            let message = try await admin.get("/admin/webhooks")
            #expect(message.text.contains("event_types/0") && message.text.contains("url:"))
            #expect(try await Self.count(app, "webhook_endpoints") == 1)

            // Disable and enable, each audited as PATCH is.
            #expect(try await admin.post("/admin/webhooks/\(id)/active", [("active", "no")]).status == .seeOther)
            #expect(try await admin.get("/admin/webhooks/\(id)").text.contains("<button type=\"submit\">Enable</button>"))
            #expect(try await admin.post("/admin/webhooks/\(id)/active", [("active", "yes")]).status == .seeOther)
            #expect(try await admin.get("/admin/webhooks/\(id)").text.contains("Enabled."))
            #expect(try await Self.audited(app, "webhook.updated") == 2)

            // Deleting asks first.
            #expect(try await admin.post("/admin/webhooks/\(id)/delete").status == .seeOther)
            #expect(try await admin.get("/admin/webhooks/\(id)").text.contains("Tick the box to confirm"))
            #expect(try await Self.count(app, "webhook_endpoints") == 1)
            let deleted = try await admin.post("/admin/webhooks/\(id)/delete", [("confirm", "yes")])
            #expect(deleted.status == .seeOther && deleted.headers[.location] == "/admin/webhooks")
            #expect(try await Self.count(app, "webhook_endpoints") == 0)
            #expect(try await Self.audited(app, "webhook.deleted") == 1)
            #expect(try await admin.get("/admin/webhooks/\(id)").status == .notFound)
        }
    }

    @Test func theDeliveryLogIsShownAndAnExpiredEventIsNotSentAgain() async throws {
        try await withApp { app in
            let admin = try await AdminTestBrowser.signedIn(app, "boss@example.com", as: .admin)
            _ = try await admin.post("/admin/webhooks", [("url", "http://127.0.0.1:9/hooks"), ("event_types", "*")])
            let endpoint = try #require(try await app.database.queryFirst("SELECT id FROM webhook_endpoints")?.decode("id", as: String.self))
            let ids = TimeOrderedIDGenerator(clock: app.clock)
            let delivery = WebhookDeliveryRecord(
                id: ids.make(), endpointID: try #require(ID(endpoint)), eventID: "evt_gone", eventType: "order.paid", attempt: 3,
                statusCode: 502, succeeded: false, durationMS: 41, error: "<b>bad gateway</b>", createdAt: app.clock.now())
            try await WebhookStore(cipher: FieldCipher(keys: [.init(id: "k1", key: SymmetricKey(size: .bits256))]), ids: ids)
                .record(delivery, on: app.database)
            let page = try await admin.get("/admin/webhooks/\(endpoint)")
            #expect(page.text.contains("order.paid") && page.text.contains(">502<") && page.text.contains(">41<"))
            #expect(!page.text.contains("<b>bad") && page.text.contains("&lt;b&gt;bad gateway&lt;/b&gt;"))
            let redeliver = "/admin/webhooks/\(endpoint)/deliveries/\(delivery.id)/redeliver"
            #expect(page.text.contains("action=\"\(redeliver)\""))
            let answer = try await admin.post(redeliver)
            #expect(answer.status == .seeOther && answer.headers[.location] == "/admin/webhooks/\(endpoint)")
            #expect(try await admin.get("/admin/webhooks/\(endpoint)").text.contains("can no longer be sent"))
            #expect(try await Self.audited(app, "webhook.redelivered") == 0)
            #expect(try await Self.count(app, "jobs") == 0)
        }
    }

    @Test func adminsSeeDeadJobsFirstAndRetryThem() async throws {
        try await withApp { app in
            let admin = try await AdminTestBrowser.signedIn(app, "boss@example.com", as: .admin)
            let id = try await Self.deadJob(app, error: "<img src=x onerror=alert(1)>")
            let list = try await admin.get("/admin/jobs")
            #expect(list.status == .ok && list.text.contains("<h2>Dead jobs</h2>") && list.text.contains("href=\"/admin/jobs/\(id)\""))
            #expect(list.text.contains("test.admin_operations"))
            #expect(!list.text.contains("<img src=x") && list.text.contains("&lt;img src=x"))
            #expect(try await admin.get("/admin/jobs?state=done").text.contains("No jobs match."))
            #expect(try await admin.get("/admin/jobs?state=dead&kind=test.admin_operations").text.contains(id))
            #expect(try await admin.get("/admin/jobs?state=buried").status == .badRequest)
            let detail = try await admin.get("/admin/jobs/\(id)")
            #expect(detail.status == .ok && detail.text.contains("&lt;img src=x onerror=alert(1)&gt;"))
            #expect(detail.text.contains("action=\"/admin/jobs/\(id)/retry\""))

            let retried = try await admin.post("/admin/jobs/\(id)/retry")
            #expect(retried.status == .seeOther && retried.headers[.location] == "/admin/jobs/\(id)")
            #expect(try await Self.state(app, id) == "pending")
            #expect(try await Self.audited(app, "job.retried") == 1)
            #expect(try await admin.get("/admin/jobs/\(id)").text.contains("The job will run again shortly."))
            #expect(try await admin.get("/admin/jobs/\(UUID().uuidString)").status == .notFound)
        }
    }

    @Test func staffAndForgedFormsChangeNothing() async throws {
        try await withApp { app in
            let admin = try await AdminTestBrowser.signedIn(app, "boss@example.com", as: .admin)
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let id = try await Self.deadJob(app, error: "boom")
            _ = try await admin.post("/admin/webhooks", [("url", "http://127.0.0.1:9/hooks"), ("event_types", "*")])
            let endpoint = try #require(try await app.database.queryFirst("SELECT id FROM webhook_endpoints")?.decode("id", as: String.self))

            for path in ["/admin/webhooks", "/admin/webhooks/\(endpoint)", "/admin/jobs", "/admin/jobs/\(id)"] {
                #expect(try await staff.get(path).status == .forbidden, "\(path)")
            }
            #expect(!(try await staff.get("/admin/orders").text.contains("href=\"/admin/webhooks\"")))
            #expect(try await admin.get("/admin/orders").text.contains("href=\"/admin/jobs\""))
            #expect(try await staff.post("/admin/jobs/\(id)/retry").status == .forbidden)
            #expect(try await staff.post("/admin/webhooks/\(endpoint)/delete", [("confirm", "yes")]).status == .forbidden)
            #expect(try await staff.post("/admin/webhooks", [("url", "http://127.0.0.1:9/other"), ("event_types", "*")]).status == .forbidden)

            // The admin's own session, without its form token or with a forged one.
            #expect(try await admin.post("/admin/jobs/\(id)/retry", csrf: .some(nil)).status == .forbidden)
            #expect(try await admin.post("/admin/webhooks/\(endpoint)/delete", [("confirm", "yes")], csrf: "forged").status == .forbidden)
            #expect(try await admin.post("/admin/webhooks/\(endpoint)/active", [("active", "no")], csrf: .some(nil)).status == .forbidden)
            #expect(try await Self.state(app, id) == "dead")
            #expect(try await Self.count(app, "webhook_endpoints") == 1)
            #expect(try await app.database.queryFirst("SELECT active FROM webhook_endpoints")?.decode("active", as: Bool.self) == true)
            #expect(try await Self.audited(app, "job.retried") == 0)
            #expect(try await Self.audited(app, "webhook.deleted") == 0)
        }
    }

    @Test func adminsKeepTaxRatesWithTheJSONRoutesRules() async throws {
        try await withApp { app in
            let admin = try await AdminTestBrowser.signedIn(app, "boss@example.com", as: .admin)
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            #expect(try await admin.get("/admin/tax-rates").text.contains("No tax rates yet."))
            let added = try await admin.post("/admin/tax-rates", [("country", "de"), ("name", "<b>MwSt</b>"), ("rate", "19")])
            #expect(added.status == .seeOther && added.headers[.location] == "/admin/tax-rates")
            let list = try await admin.get("/admin/tax-rates")
            #expect(list.text.contains(">DE<") && list.text.contains("19%") && list.text.contains("&lt;b&gt;MwSt&lt;/b&gt;"))
            #expect(!list.text.contains("<b>MwSt"))
            let id = try #require(try await app.database.queryFirst("SELECT id FROM tax_rates")?.decode("id", as: String.self))
            #expect(try await app.database.queryFirst("SELECT rate_ppm FROM tax_rates")?.decode("rate_ppm", as: Int64.self) == 190_000)

            // The JSON routes' rules and conflict; a rate that is no percentage; nothing changes.
            _ = try await admin.post("/admin/tax-rates", [("country", "Germany"), ("name", ""), ("rate", "101")])
            let refused = try await admin.get("/admin/tax-rates")
            #expect(refused.text.contains("country:") && refused.text.contains("name:") && refused.text.contains("rate_ppm:"))
            _ = try await admin.post("/admin/tax-rates", [("country", "DE"), ("name", "Again"), ("rate", "7")])
            #expect(try await admin.get("/admin/tax-rates").text.contains("already have a rate"))
            _ = try await admin.post("/admin/tax-rates", [("country", "FR"), ("name", "TVA"), ("rate", "twenty")])
            #expect(try await admin.get("/admin/tax-rates").text.contains("rate: must be a percentage"))
            #expect(try await Self.count(app, "tax_rates") == 1)

            let edit = try await admin.get("/admin/tax-rates/\(id)")
            #expect(edit.status == .ok && edit.text.contains("value=\"19\""))
            let saved = try await admin.post("/admin/tax-rates/\(id)", [("country", "DE"), ("name", "MwSt"), ("rate", "7.5")])
            #expect(saved.status == .seeOther)
            #expect(try await app.database.queryFirst("SELECT rate_ppm FROM tax_rates")?.decode("rate_ppm", as: Int64.self) == 75_000)

            // Staff may not; a forged form may not; deleting asks first.
            #expect(try await staff.get("/admin/tax-rates").status == .forbidden)
            #expect(try await staff.post("/admin/tax-rates/\(id)/delete", [("confirm", "yes")]).status == .forbidden)
            #expect(try await admin.post("/admin/tax-rates/\(id)/delete", [("confirm", "yes")], csrf: "forged").status == .forbidden)
            #expect(try await admin.post("/admin/tax-rates/\(id)/delete").status == .seeOther)
            #expect(try await Self.count(app, "tax_rates") == 1)
            #expect(try await admin.post("/admin/tax-rates/\(id)/delete", [("confirm", "yes")]).status == .seeOther)
            #expect(try await Self.count(app, "tax_rates") == 0)
            #expect(try await Self.audited(app, "tax_rate.created") == 1)
            #expect(try await Self.audited(app, "tax_rate.updated") == 1)
            #expect(try await Self.audited(app, "tax_rate.deleted") == 1)
        }
    }

    @Test func adminsKeepShippingMethodsWithTheJSONRoutesRules() async throws {
        try await withApp { app in
            let admin = try await AdminTestBrowser.signedIn(app, "boss@example.com", as: .admin)
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let before = try await Self.count(app, "shipping_methods")
            let added = try await admin.post("/admin/shipping-methods", [
                ("name", "<i>Parcel</i>"), ("currency", "EUR"), ("flat_amount", "4.90"), ("free_over", "50"), ("countries", "de, at"),
                ("active", "yes"),
            ])
            #expect(added.status == .seeOther && added.headers[.location] == "/admin/shipping-methods")
            let list = try await admin.get("/admin/shipping-methods")
            #expect(list.text.contains("&lt;i&gt;Parcel&lt;/i&gt;") && !list.text.contains("<i>Parcel"))
            #expect(list.text.contains(">4.90<") && list.text.contains(">50.00<") && list.text.contains("AT DE"))
            let row = try #require(try await app.database.queryFirst("SELECT id, flat_amount FROM shipping_methods WHERE name = '<i>Parcel</i>'"))
            let id = try row.decode("id", as: String.self)
            #expect(try row.decode("flat_amount", as: Int64.self) == 490)

            // The JSON routes' rules; an amount that is none; nothing changes.
            _ = try await admin.post("/admin/shipping-methods", [("name", "X"), ("currency", "eur"), ("countries", "Germany")])
            let refused = try await admin.get("/admin/shipping-methods")
            #expect(refused.text.contains("currency:") && refused.text.contains("countries/0:"))
            _ = try await admin.post("/admin/shipping-methods", [("name", "X"), ("currency", "EUR"), ("flat_amount", "lots")])
            #expect(try await admin.get("/admin/shipping-methods").text.contains("flat_amount: must be an amount"))
            #expect(try await Self.count(app, "shipping_methods") == before + 1)

            let edit = try await admin.get("/admin/shipping-methods/\(id)")
            #expect(edit.status == .ok && edit.text.contains("value=\"4.90\""))
            let saved = try await admin.post("/admin/shipping-methods/\(id)", [("name", "Parcel"), ("currency", "EUR"), ("flat_amount", "5.50")])
            #expect(saved.status == .seeOther)
            let changed = try #require(try await app.database.queryFirst("SELECT flat_amount, active FROM shipping_methods WHERE id = \(id)"))
            #expect(try changed.decode("flat_amount", as: Int64.self) == 550)
            #expect(try changed.decode("active", as: Bool.self) == false)

            #expect(try await staff.get("/admin/shipping-methods").status == .forbidden)
            #expect(try await staff.post("/admin/shipping-methods/\(id)/delete", [("confirm", "yes")]).status == .forbidden)
            #expect(try await admin.post("/admin/shipping-methods/\(id)/delete", [("confirm", "yes")], csrf: .some(nil)).status == .forbidden)
            #expect(try await admin.post("/admin/shipping-methods/\(id)/delete").status == .seeOther)
            #expect(try await Self.count(app, "shipping_methods") == before + 1)
            #expect(try await admin.post("/admin/shipping-methods/\(id)/delete", [("confirm", "yes")]).status == .seeOther)
            #expect(try await Self.count(app, "shipping_methods") == before)
            #expect(try await Self.audited(app, "shipping_method.created") == 1)
            #expect(try await Self.audited(app, "shipping_method.updated") == 1)
            #expect(try await Self.audited(app, "shipping_method.deleted") == 1)
        }
    }

    @Test func staffKeepDiscountsWithTheJSONRoutesRules() async throws {
        try await withApp { app in
            let staff = try await AdminTestBrowser.signedIn(app, "staff@example.com", as: .staff)
            let added = try await staff.post("/admin/discounts", [
                ("code", "summer-10"), ("kind", "percentage"), ("percentage", "12.5"), ("minimum_subtotals", "EUR 20.00"),
                ("usage_limit", "100"), ("active", "yes"),
            ])
            #expect(added.status == .seeOther && added.headers[.location] == "/admin/discounts")
            let list = try await staff.get("/admin/discounts")
            #expect(list.status == .ok && list.text.contains("SUMMER-10") && list.text.contains("12.5 %"))
            let row = try #require(try await app.database.queryFirst("SELECT id, percentage_ppm FROM discounts"))
            let id = try row.decode("id", as: String.self)
            #expect(try row.decode("percentage_ppm", as: Int64.self) == 125_000)

            // The JSON routes' rules: markup in a code is refused, as are a fixed code without
            // an amount and amounts that are none; the message comes back escaped.
            _ = try await staff.post("/admin/discounts", [("code", "<script>x</script>"), ("kind", "fixed")])
            let refused = try await staff.get("/admin/discounts")
            #expect(refused.text.contains("code: must be 3 to 40") && refused.text.contains("amounts: a fixed discount needs"))
            #expect(!refused.text.contains("<script>x"))
            _ = try await staff.post("/admin/discounts", [("code", "FIVE"), ("kind", "fixed"), ("amounts", "five euros")])
            #expect(try await staff.get("/admin/discounts").text.contains("amounts: must be amounts such as"))
            _ = try await staff.post("/admin/discounts", [("code", "summer-10"), ("kind", "percentage"), ("percentage", "5")])
            #expect(try await staff.get("/admin/discounts").text.contains("Another discount has this code."))
            #expect(try await Self.count(app, "discounts") == 1)

            let edit = try await staff.get("/admin/discounts/\(id)")
            #expect(edit.status == .ok && edit.text.contains("value=\"12.5\"") && edit.text.contains("value=\"EUR 20.00\""))
            let saved = try await staff.post("/admin/discounts/\(id)", [("code", "SUMMER-10"), ("kind", "fixed"), ("amounts", "EUR 5.00, usd 6")])
            #expect(saved.status == .seeOther)
            let changed = try #require(try await app.database.queryFirst("SELECT kind, active FROM discounts WHERE id = \(id)"))
            #expect(try changed.decode("kind", as: String.self) == "fixed")
            #expect(try changed.decode("active", as: Bool.self) == false)
            #expect(try await staff.get("/admin/discounts/\(id)").text.contains("value=\"EUR 5.00, USD 6.00\""))

            // A visitor without a session is sent to sign in; staff is the least role that gets in.
            #expect(try await AdminTestBrowser(app).get("/admin/discounts").status == .seeOther)
            #expect(try await staff.post("/admin/discounts/\(id)/delete", [("confirm", "yes")], csrf: .some(nil)).status == .forbidden)
            #expect(try await staff.post("/admin/discounts/\(id)/delete").status == .seeOther)
            #expect(try await Self.count(app, "discounts") == 1)
            #expect(try await staff.post("/admin/discounts/\(id)/delete", [("confirm", "yes")]).status == .seeOther)
            #expect(try await Self.count(app, "discounts") == 0)
            #expect(try await Self.audited(app, "discount.created") == 1)
            #expect(try await Self.audited(app, "discount.updated") == 1)
            #expect(try await Self.audited(app, "discount.deleted") == 1)
        }
    }

    /// A dead job of a kind nothing runs, with `error` as its last error; its id.
    static func deadJob(_ app: TestApp, error: String) async throws -> String {
        let store = JobStore(ids: TimeOrderedIDGenerator(clock: app.clock))
        let request = try JobRequest(kind: "test.admin_operations", payload: ["n": 1], runAt: app.clock.now().addingTimeInterval(86_400))
        _ = try await store.enqueue(request, maxAttempts: 1, at: app.clock.now(), on: app.database)
        let id = try #require(try await app.database.queryFirst("SELECT id FROM jobs WHERE kind = 'test.admin_operations'")?.decode("id", as: String.self))
        try await app.database.execute("UPDATE jobs SET state = 'dead', attempts = 1, last_error = \(error) WHERE id = \(id)")
        return id
    }

    static func state(_ app: TestApp, _ id: String) async throws -> String? {
        try await app.database.queryFirst("SELECT state FROM jobs WHERE id = \(id)")?.decode("state", as: String.self)
    }

    static func count(_ app: TestApp, _ table: String) async throws -> Int64 {
        try await app.database.queryFirst("SELECT COUNT(*) AS n FROM \(unsafeRaw: table)")?.decode("n", as: Int64.self) ?? -1
    }

    static func audited(_ app: TestApp, _ action: String) async throws -> Int64 {
        try await app.database.queryFirst("SELECT COUNT(*) AS n FROM audit_log WHERE action = \(action)")?.decode("n", as: Int64.self) ?? -1
    }
}
