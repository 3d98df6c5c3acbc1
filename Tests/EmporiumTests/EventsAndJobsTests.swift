import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

extension TestApp {
    /// The events recorded so far for one aggregate, in sequence order.
    func events(of aggregate: String) async throws -> [(id: String, type: String, sequence: Int64)] {
        try await database.query("""
            SELECT id, event_type, sequence FROM outbox WHERE aggregate_id = \(aggregate) ORDER BY sequence
            """).map { (try $0.decode("id"), try $0.decode("event_type"), try $0.decode("sequence")) }
    }

    /// Jobs by state for one kind.
    func jobStates(_ kind: String) async throws -> [String] {
        try await database.query("SELECT state FROM jobs WHERE kind = \(kind) ORDER BY id").map { try $0.decode("state") }
    }

    /// Sets the fixture variant's low-stock threshold through the API; returns its product's id.
    @discardableResult
    func setLowStockThreshold(_ threshold: Int, _ fixture: CommerceFixture) async throws -> String {
        let product = try #require(try await database.queryFirst("SELECT product_id FROM variants WHERE id = \(fixture.variantID)"))
        let productID: String = try product.decode("product_id")
        let changed = try await send(
            .patch, "/v1/admin/products/\(productID)/variants/\(fixture.variantID)", token: fixture.admin,
            json: #"{"low_stock_threshold":\#(threshold)}"#)
        #expect(changed.status == .ok, "\(changed.text)")
        return productID
    }

    /// Queues a job directly, as a store of this module would inside its transaction.
    func enqueue(kind: String, uniqueKey: String? = nil, orderingKey: String? = nil, sequence: Int64 = 0, maxAttempts: Int64 = 3) async throws {
        let id = UUID().uuidString.lowercased()
        let now = clock.now()
        try await database.execute("""
            INSERT INTO jobs (id, kind, payload, state, attempts, run_at, created_at, updated_at, unique_key, ordering_key,
                              ordering_seq, max_attempts)
            VALUES (\(id), \(kind), '{}', 'pending', 0, \(now), \(now), \(now), \(uniqueKey), \(orderingKey), \(sequence), \(maxAttempts))
            ON CONFLICT DO NOTHING
            """)
    }
}

@Suite struct EventsAndJobsTests {
    /// With automatic capture an order is placed and paid in one transaction, whose two events
    /// are written together: still two events, each with its own id and the next number.
    @Test func anOrderPlacedAndPaidAtOnceRecordsBothEventsInSequence() async throws {
        try await withApp(configure: { $0.paymentCapture = .automatic }) { app in
            let fixture = try await CommerceFixture(app)
            let first = try #require(try await app.placeOrder(fixture)["id"] as? String)
            let events = try await app.events(of: first)
            #expect(events.map(\.type) == ["order.created", "order.placed", "order.paid"])
            #expect(events.map(\.sequence) == [1, 2, 3])
            #expect(Set(events.map(\.id)).count == 3 && events.allSatisfy { $0.id.hasPrefix("evt_") })
            // Another order's numbers are its own.
            let second = try #require(try await app.placeOrder(fixture)["id"] as? String)
            #expect(try await app.events(of: second).map(\.sequence) == [1, 2, 3])
        }
    }

    @Test func eventsCarryUniqueIdsAndAPerAggregateSequenceAndAreRelayedOnce() async throws {
        try await withApp(configure: { $0.paymentCapture = .manual }) { app in
            let fixture = try await CommerceFixture(app)
            let id = try #require(try await app.placeOrder(fixture)["id"] as? String)
            #expect(try await app.send(.post, "/v1/admin/orders/\(id)/capture", token: fixture.admin).status == .ok)
            let events = try await app.events(of: id)
            #expect(events.map(\.type) == ["order.created", "order.placed", "order.paid"])
            #expect(events.map(\.sequence) == [1, 2, 3])
            #expect(Set(events.map(\.id)).count == 3 && events.allSatisfy { $0.id.hasPrefix("evt_") })
            #expect(try await app.count("SELECT COUNT(*) AS n FROM outbox WHERE published_at IS NULL") > 0)

            // Running everything twice sends one confirmation: the event id is the mail job's unique key.
            try await app.jobs.drain()
            try await app.jobs.drain()
            #expect(try await app.count("SELECT COUNT(*) AS n FROM outbox WHERE published_at IS NULL") == 0)
            let confirmations = try await app.sentMail().filter { $0.contains("confirmed") }
            #expect(confirmations.count == 1)
            let mail = try #require(confirmations.first)
            #expect(mail.contains("To: shopper@example.com"))
            #expect(mail.contains("Message-ID: <\(events[1].id)@emporium.invalid>"))
            #expect(mail.contains("multipart/alternative") && mail.contains("Content-Type: text/html"))
            #expect(mail.contains("Total: 29.63 EUR"))
            // The lines are read with the order, in the same statement.
            #expect(mail.contains("(\(fixture.sku))"))
            #expect(try await app.jobStates("mail.order_confirmation") == ["done"])
        }
    }

    @Test func declinedPaymentsAndShipmentsSendTheirMail() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app)
            let declined = try await app.checkout(try await app.readyCart(fixture), token: "tok_chargeDeclined")
            #expect(declined.status.code == 402)
            let order = try await app.placeOrder(fixture)
            let id = try #require(order["id"] as? String)
            let line = try #require((order["lines"] as? [[String: Any]])?.first?["id"] as? String)
            let shipped = try await app.send(
                .post, "/v1/admin/orders/\(id)/fulfillments", token: fixture.admin,
                json: #"{"location_id":"\#(fixture.location)","lines":[{"line_id":"\#(line)","quantity":2}],"carrier":"DHL","tracking_number":"JJD0099<b>"}"#)
            #expect(shipped.status == .created, "\(shipped.text)")
            let mail = try await app.sentMail()
            let failed = try #require(mail.first { $0.contains("did not go through") })
            #expect(failed.contains("card declined"))
            let shipping = try #require(mail.first { $0.contains("has shipped") })
            #expect(shipping.contains("Tracking number: JJD0099<b>"))
            // The HTML part escapes what staff typed.
            let html = try #require(shipping.components(separatedBy: "Content-Transfer-Encoding: base64\r\n\r\n").last)
            let decoded = String(decoding: Data(base64Encoded: html.components(separatedBy: "\r\n--").first!, options: .ignoreUnknownCharacters) ?? Data(), as: UTF8.self)
            #expect(decoded.contains("JJD0099&lt;b&gt;") && !decoded.contains("JJD0099<b>"))
        }
    }

    @Test func aFailingJobBacksOffThenDiesAndAnAdminCanRetryIt() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app)
            // A kind no handler knows fails for good at once; an order mail for a missing order too.
            try await app.enqueue(kind: "no.such.kind")
            try await app.jobs.drain()
            #expect(try await app.jobStates("no.such.kind") == ["dead"])
            let listed = try await app.send(.get, "/v1/admin/jobs?state=dead", token: fixture.admin)
            #expect(listed.status == .ok)
            let job = try #require((try listed.jsonObject()["data"] as? [[String: Any]])?.first)
            #expect(job["kind"] as? String == "no.such.kind")
            #expect((job["last_error"] as? String)?.contains("no handler") == true)
            let id = try #require(job["id"] as? String)
            let retried = try await app.send(.post, "/v1/admin/jobs/\(id)/retry", token: fixture.admin)
            #expect(retried.status == .ok)
            #expect(try retried.jsonObject()["state"] as? String == "pending")
            #expect(try await app.count("SELECT COUNT(*) AS n FROM audit_log WHERE action = 'job.retried'") == 1)
            // A running or done job cannot be retried; unknown ids are 404; bad filters 400.
            try await app.jobs.drain()
            #expect(try await app.send(.post, "/v1/admin/jobs/\(UUID().uuidString.lowercased())/retry", token: fixture.admin).status == .notFound)
            #expect(try await app.send(.post, "/v1/admin/jobs/not-a-job/retry", token: fixture.admin).status == .notFound)
            try expectInvalidQuery(try await app.send(.get, "/v1/admin/jobs?state=sleeping", token: fixture.admin), "state")
        }
    }

    @Test func mailToAServerThatRefusesIsRetriedWithBackoffThenDead() async throws {
        // Port 9 on loopback: nothing listens, every connection is refused (a transient failure).
        try await withApp(configure: { $0.smtpURL = "smtp://127.0.0.1:9?starttls=off&timeout=2" }) { app in
            _ = try await app.register("ada@example.com")
            #expect(try await app.post("/v1/auth/password-reset", json: #"{"email":"ada@example.com"}"#).status == .accepted)
            try await app.jobs.drain()
            var job = try #require(try await app.database.queryFirst("SELECT state, attempts, last_error FROM jobs WHERE kind = 'mail.password_reset'"))
            #expect(try job.decode("state", as: String.self) == "pending")
            #expect(try job.decode("attempts", as: Int64.self) == 1)
            #expect(try job.decode("last_error", as: String?.self)?.contains("127.0.0.1:9") == true)
            // Not due again at once; after each backoff one more try, until the sixth is the last (all
            // within the link's 30 minutes: an expired link is not sent at all).
            try await app.jobs.drain()
            #expect(try await app.database.queryFirst("SELECT attempts FROM jobs WHERE kind = 'mail.password_reset'")?.decode("attempts", as: Int64.self) == 1)
            for _ in 0..<6 {
                app.clock.advance(by: 200)
                try await app.jobs.drain()
            }
            job = try #require(try await app.database.queryFirst("SELECT state, attempts FROM jobs WHERE kind = 'mail.password_reset'"))
            #expect(try job.decode("state", as: String.self) == "dead")
            #expect(try job.decode("attempts", as: Int64.self) == 6)
            let metrics = try await app.send(.get, "/metrics", token: nil).text
            #expect(metrics.contains(#"emporium_jobs_dead{kind="mail.password_reset"} 1"#))
            #expect(metrics.contains(#"emporium_mail_total{template="password_reset",outcome="failed"} 6"#))
        }
    }

    @Test func retriesWaitForTheirBackoffAndAJobWhoseWorkerDiedRunsAgain() async throws {
        try await withApp { app in
            _ = try await CommerceFixture(app)
            // A job claimed by a worker that died: it stays running until its lease passes.
            let now = app.clock.now()
            try await app.database.execute("""
                INSERT INTO jobs (id, kind, payload, state, attempts, run_at, created_at, updated_at, max_attempts)
                VALUES ('00000000-0000-7000-8000-000000000001', 'housekeeping.purge', '{}', 'running', 1, \(now), \(now), \(now), 5)
                """)
            try await app.database.execute("""
                UPDATE jobs SET locked_by = 'elsewhere/dead', locked_until = \(now.addingTimeInterval(30)) WHERE id = '00000000-0000-7000-8000-000000000001'
                """)
            // Within its lease it belongs to its worker.
            #expect(try await app.jobs.releaseExpiredLeases() == 0)
            app.clock.advance(by: 31)
            #expect(try await app.jobs.releaseExpiredLeases() == 1)
            try await app.jobs.drain()
            let job = try #require(try await app.database.queryFirst("SELECT state, attempts FROM jobs WHERE id = '00000000-0000-7000-8000-000000000001'"))
            #expect(try job.decode("state", as: String.self) == "done")
            #expect(try job.decode("attempts", as: Int64.self) == 2)
        }
    }

    @Test func uniqueKeysQueueOnceAndOrderingKeysRunInSequence() async throws {
        try await withApp { app in
            _ = try await CommerceFixture(app)
            try await app.enqueue(kind: "housekeeping.purge", uniqueKey: "once")
            try await app.enqueue(kind: "housekeeping.purge", uniqueKey: "once")
            #expect(try await app.count("SELECT COUNT(*) AS n FROM jobs WHERE unique_key = 'once'") == 1)
            // The second of an ordering key waits while the first is pending, even when due first.
            try await app.enqueue(kind: "no.such.kind", orderingKey: "order:1", sequence: 2)
            try await app.enqueue(kind: "housekeeping.purge", orderingKey: "order:1", sequence: 1)
            let second = try #require(try await app.database.queryFirst("SELECT id FROM jobs WHERE ordering_seq = 2"))
            try await app.database.execute("UPDATE jobs SET run_at = \(app.clock.now().addingTimeInterval(-60)) WHERE id = \(try second.decode("id", as: String.self))")
            try await app.jobs.drain()
            let rows = try await app.database.query("SELECT state, ordering_seq, finished_at FROM jobs WHERE ordering_key = 'order:1' ORDER BY ordering_seq")
            #expect(try rows.map { try $0.decode("state", as: String.self) } == ["done", "dead"])
        }
    }

    @Test func housekeepingPurgesExpiredKeysOldEventsAndAbandonedGuestCarts() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app)
            _ = try await app.placeOrder(fixture)
            let kept = try await app.newCart()
            let stale = try await app.readyCart(fixture)
            try await app.jobs.drain()
            #expect(try await app.count("SELECT COUNT(*) AS n FROM idempotency_keys") == 1)
            // Within the retention periods nothing goes.
            #expect(try await app.jobs.purge().isEmpty)
            app.clock.advance(by: 31 * 24 * 3600)
            #expect(try await app.cart(kept, .put, "/email", json: #"{"email":"late@example.com"}"#).status == .ok)
            let removed = try await app.jobs.purge()
            #expect(removed["idempotency_keys"] == 1)
            #expect((removed["outbox"] ?? 0) >= 3)
            #expect((removed["jobs"] ?? 0) >= 1)
            // The untouched guest cart went; the one touched just now and the ordered one stayed.
            #expect(removed["carts"] == 1)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM carts WHERE id = \(kept.id)") == 1)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM carts WHERE id = \(stale.id)") == 0)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders") == 1)
        }
    }

    @Test func customersProductsAndLowStockHaveTheirEvents() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: 3)
            _ = try await app.register("eve@example.com")
            let customers = try await app.database.query("SELECT payload FROM outbox WHERE event_type = 'customer.created'")
            #expect(try customers.filter { try $0.decode("payload", as: String.self).contains(#""email":"eve@example.com""#) }.count == 1)
            // The threshold is 1: the checkout that leaves 1 of 3 crosses it, the next one not again.
            let productID = try await app.setLowStockThreshold(1, fixture)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM outbox WHERE event_type = 'product.updated' AND aggregate_id = \(productID)") == 1)
            _ = try await app.placeOrder(fixture, quantity: 2)
            _ = try await app.placeOrder(fixture, quantity: 1)
            let low = try await app.database.query("SELECT payload FROM outbox WHERE event_type = 'inventory.low_stock'")
            #expect(low.count == 1)
            #expect(try low.first?.decode("payload", as: String.self).contains(#""available":1"#) == true)
            // Staff taking stock away crosses it too, once stock was back above it.
            try await app.receive(10, of: fixture.sku, at: fixture.location, token: fixture.admin)
            let taken = try await app.send(
                .post, "/v1/admin/inventory/adjustments", token: fixture.admin,
                json: #"{"sku":"\#(fixture.sku)","location_id":"\#(fixture.location)","delta":-10,"reason":"damaged"}"#)
            #expect(taken.status == .created || taken.status == .ok, "\(taken.text)")
            #expect(try await app.count("SELECT COUNT(*) AS n FROM outbox WHERE event_type = 'inventory.low_stock'") == 2)
        }
    }

    /// A variant stocked at two locations crosses its threshold on what both have left, not on
    /// what is left where the checkout reserved.
    @Test func lowStockCountsEveryLocation() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app, stock: 3)
            let second = try await app.send(
                .post, "/v1/admin/inventory/locations", token: fixture.admin, json: #"{"code":"annex","name":"Annex"}"#)
            try await app.receive(2, of: fixture.sku, at: try #require(try second.jsonObject()["id"] as? String), token: fixture.admin)
            try await app.setLowStockThreshold(2, fixture)
            // 5 in all. Both orders reserve at the main location (the first by id): 3 left, then 2.
            _ = try await app.placeOrder(fixture, quantity: 2)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM outbox WHERE event_type = 'inventory.low_stock'") == 0)
            _ = try await app.placeOrder(fixture, quantity: 1)
            let low = try await app.database.query("SELECT payload FROM outbox WHERE event_type = 'inventory.low_stock'")
            #expect(low.count == 1)
            #expect(try low.first?.decode("payload", as: String.self).contains(#""available":2"#) == true)
        }
    }

    @Test func metricsShowTheQueueAndTheOutbox() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app)
            _ = try await app.placeOrder(fixture)
            // No answer from the provider: this payment's follow-up stays queued.
            #expect(try await app.checkout(try await app.readyCart(fixture), token: "tok_timeout").status == .gatewayTimeout)
            let before = try await app.send(.get, "/metrics", token: nil).text
            #expect(before.contains("emporium_outbox_unpublished"))
            try await app.jobs.drain()
            let after = try await app.send(.get, "/metrics", token: nil).text
            #expect(after.contains(#"emporium_jobs_total{kind="mail.order_confirmation",outcome="succeeded"} 1"#))
            #expect(after.contains(#"emporium_mail_total{template="order_confirmation",outcome="sent"} 1"#))
            // The timed-out payment's follow-up; the paid order's went when its payment was recorded.
            #expect(after.contains(#"emporium_jobs_queued{kind="payment.reconcile"} 1"#))
            #expect(after.contains("emporium_outbox_unpublished 0"))
        }
    }
}

func expectInvalidQuery(_ response: TestResponse, _ parameter: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(response.status == .badRequest, sourceLocation: sourceLocation)
    #expect(response.text.contains(parameter), sourceLocation: sourceLocation)
}
