import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

extension TestApp {
    /// Creates a webhook endpoint through the admin API; answers its id and its secret.
    func createWebhook(url: String, types: [String] = ["*"], token: String) async throws -> (id: String, secret: String) {
        let body = try String(decoding: JSONSerialization.data(withJSONObject: ["url": url, "event_types": types]), as: UTF8.self)
        let response = try await send(.post, "/v1/admin/webhooks", token: token, json: body)
        guard response.status == .created else { throw TestFailure("creating a webhook answered \(response.status): \(response.text)") }
        let object = try response.jsonObject()
        return (try #require(object["id"] as? String), try #require(object["secret"] as? String))
    }

    /// The endpoint's delivery log, newest first.
    func webhookDeliveries(_ id: String, token: String) async throws -> [[String: Any]] {
        let response = try await send(.get, "/v1/admin/webhooks/\(id)/deliveries?limit=100", token: token)
        guard response.status == .ok else { throw TestFailure("the delivery log answered \(response.status): \(response.text)") }
        return try response.jsonObject()["data"] as? [[String: Any]] ?? []
    }

    /// Webhook delivery jobs, newest first.
    func webhookJobs(token: String) async throws -> [[String: Any]] {
        try await send(.get, "/v1/admin/jobs?kind=webhook.deliver", token: token).jsonObject()["data"] as? [[String: Any]] ?? []
    }

    func webhook(_ id: String, token: String) async throws -> [String: Any] {
        try await send(.get, "/v1/admin/webhooks/\(id)", token: token).jsonObject()
    }

    /// A new admin's token: after the clock has moved hours on, earlier access tokens have expired.
    func freshAdmin() async throws -> String {
        try await signIn("admin-\(UUID().uuidString.prefix(8).lowercased())@example.com", as: .admin)
    }
}

@Suite struct WebhookTests {
    @Test func theReceiversCheckMatchesTheStandardWebhooksExample() {
        // The example of the Standard Webhooks specification, so the tests' own check is right.
        let signature = StandardWebhooks.sign(
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: #"{"test": 2432232314}"#,
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test func deliveriesAreSignedAndArriveInEventOrder() async throws {
        try await WebhookReceiver.run(reply: { _ in .status(204) }) { receiver in
            try await withApp { app in
                let fixture = try await CommerceFixture(app)
                // Events from before the endpoint existed (the admin's sign-up) go out before it does.
                try await app.jobs.drain()
                let (endpoint, secret) = try await app.createWebhook(url: receiver.url, token: fixture.admin)
                let orderID = try #require(try await app.placeOrder(fixture)["id"] as? String)
                try await app.jobs.drain()

                let events = try await app.database.query("""
                    SELECT id, event_type FROM outbox WHERE aggregate_type = 'order' AND aggregate_id = \(orderID) ORDER BY sequence
                    """).map { row in (id: try row.decode("id", as: String.self), type: try row.decode("event_type", as: String.self)) }
                #expect(events.map(\.type) == ["order.created", "order.placed", "order.paid"])
                let received = receiver.requests
                #expect(received.map { $0.header("webhook-id") } == events.map(\.id))
                for (request, event) in zip(received, events) {
                    #expect(request.method == "POST" && request.path == "/hooks")
                    #expect(request.header("content-type") == "application/json")
                    #expect(request.header("user-agent")?.contains("Emporium") == true)
                    let timestamp = try #require(request.header("webhook-timestamp").flatMap { Int64($0) })
                    #expect(abs(Double(timestamp) - app.clock.now().timeIntervalSince1970) < 2)
                    let signature = try #require(request.header("webhook-signature"))
                    #expect(signature.split(separator: " ").count == 1)
                    #expect(StandardWebhooks.verify(signature: signature, id: event.id, timestamp: timestamp, body: request.body, secret: secret))
                    #expect(!StandardWebhooks.verify(signature: signature, id: event.id, timestamp: timestamp + 1, body: request.body, secret: secret))
                    let body = try #require(try JSONSerialization.jsonObject(with: Data(request.body.utf8)) as? [String: Any])
                    #expect(Set(body.keys) == ["type", "timestamp", "data"])
                    #expect(body["type"] as? String == event.type)
                    #expect((body["timestamp"] as? String)?.contains(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/) == true)
                    #expect((body["data"] as? [String: Any])?["order_id"] as? String == orderID)
                }

                let log = try await app.webhookDeliveries(endpoint, token: fixture.admin)
                #expect(log.map { $0["event_id"] as? String } == events.reversed().map(\.id))
                for row in log {
                    #expect(row["succeeded"] as? Bool == true && row["status_code"] as? Int == 204 && row["attempt"] as? Int == 1)
                    #expect(row["error"] is NSNull && (row["duration_ms"] as? Int).map { $0 >= 0 } == true)
                }
                let metrics = try await app.send(.get, "/metrics", token: nil).text
                #expect(metrics.contains(#"emporium_webhook_deliveries_total{outcome="succeeded"} 3"#))
                #expect(metrics.contains("emporium_webhook_delivery_duration_seconds"))
            }
        }
    }

    @Test func serverErrorsAreRetriedWithTheSameID() async throws {
        try await WebhookReceiver.run(reply: { $0 < 2 ? .status(500) : .status(200) }) { receiver in
            try await withApp { app in
                let fixture = try await CommerceFixture(app)
                let (endpoint, secret) = try await app.createWebhook(url: receiver.url, types: ["order.placed"], token: fixture.admin)
                _ = try await app.placeOrder(fixture)
                try await app.jobs.drain()
                #expect(receiver.requests.count == 1)
                let job = try #require(try await app.webhookJobs(token: fixture.admin).first)
                #expect(job["state"] as? String == "pending" && job["attempts"] as? Int == 1)
                #expect((job["last_error"] as? String)?.contains("500") == true)
                // Not due yet.
                try await app.jobs.drain()
                #expect(receiver.requests.count == 1)

                app.clock.advance(by: 10)
                try await app.jobs.drain()
                let requests = receiver.requests
                #expect(requests.count == 2)
                #expect(requests[0].header("webhook-id") == requests[1].header("webhook-id"))
                #expect(requests[0].body == requests[1].body)
                let first = try #require(requests[0].header("webhook-timestamp").flatMap { Int64($0) })
                let second = try #require(requests[1].header("webhook-timestamp").flatMap { Int64($0) })
                #expect(second - first == 10)
                #expect(StandardWebhooks.verify(
                    signature: requests[1].header("webhook-signature") ?? "", id: requests[1].header("webhook-id") ?? "",
                    timestamp: second, body: requests[1].body, secret: secret))

                var log = try await app.webhookDeliveries(endpoint, token: fixture.admin)
                #expect(log.map { $0["attempt"] as? Int } == [2, 1])
                #expect(log.allSatisfy { $0["status_code"] as? Int == 500 && $0["succeeded"] as? Bool == false })
                #expect(log.allSatisfy { ($0["error"] as? String)?.contains("500") == true })
                #expect(try await app.webhook(endpoint, token: fixture.admin)["failing_since"] is String)

                // The next retry (5 minutes on) succeeds, and the run of failures is over.
                app.clock.advance(by: 400)
                try await app.jobs.drain()
                #expect(receiver.requests.count == 3)
                log = try await app.webhookDeliveries(endpoint, token: fixture.admin)
                #expect(log.first?["attempt"] as? Int == 3 && log.first?["succeeded"] as? Bool == true)
                #expect(try await app.webhook(endpoint, token: fixture.admin)["failing_since"] is NSNull)
                #expect(try await app.webhookJobs(token: fixture.admin).first?["state"] as? String == "done")
            }
        }
    }

    @Test func goneIsNotRetried() async throws {
        try await WebhookReceiver.run(reply: { _ in .status(410) }) { receiver in
            try await withApp { app in
                let fixture = try await CommerceFixture(app)
                let (endpoint, _) = try await app.createWebhook(url: receiver.url, types: ["order.placed"], token: fixture.admin)
                _ = try await app.placeOrder(fixture)
                try await app.jobs.drain()
                #expect(receiver.requests.count == 1)
                #expect(try await app.webhookJobs(token: fixture.admin).first?["state"] as? String == "dead")
                app.clock.advance(by: 2 * 24 * 3600)
                try await app.jobs.drain()
                #expect(receiver.requests.count == 1)
                let log = try await app.webhookDeliveries(endpoint, token: try await app.freshAdmin())
                #expect(log.count == 1 && log[0]["status_code"] as? Int == 410)
                #expect((log[0]["error"] as? String)?.contains("not retried") == true)
            }
        }
    }

    @Test func tooManyRequestsWaitsForRetryAfter() async throws {
        try await WebhookReceiver.run(reply: { $0 == 0 ? .status(429, headers: ["Retry-After": "120"]) : .status(200) }) { receiver in
            try await withApp { app in
                let fixture = try await CommerceFixture(app)
                let (endpoint, _) = try await app.createWebhook(url: receiver.url, types: ["order.placed"], token: fixture.admin)
                _ = try await app.placeOrder(fixture)
                try await app.jobs.drain()
                // The first step of the schedule (5 s) is shorter than what the receiver asked for.
                app.clock.advance(by: 10)
                try await app.jobs.drain()
                #expect(receiver.requests.count == 1)
                app.clock.advance(by: 120)
                try await app.jobs.drain()
                #expect(receiver.requests.count == 2)
                let log = try await app.webhookDeliveries(endpoint, token: fixture.admin)
                #expect(log.map { $0["status_code"] as? Int } == [200, 429])
            }
        }
    }

    @Test func aReceiverThatHangsTimesOutAndIsRetried() async throws {
        try await WebhookReceiver.run(reply: { $0 == 0 ? .hang : .status(200) }) { receiver in
            try await withApp(configure: { $0.webhookTimeout = .seconds(2) }) { app in
                let fixture = try await CommerceFixture(app)
                let (endpoint, _) = try await app.createWebhook(url: receiver.url, types: ["order.placed"], token: fixture.admin)
                _ = try await app.placeOrder(fixture)
                let started = ContinuousClock.now
                try await app.jobs.drain()
                #expect(ContinuousClock.now - started < .seconds(10))
                var log = try await app.webhookDeliveries(endpoint, token: fixture.admin)
                #expect(log.count == 1 && log[0]["status_code"] is NSNull && log[0]["succeeded"] as? Bool == false)
                #expect((log[0]["error"] as? String)?.contains("no answer within 2 s") == true, "\(log)")
                #expect((log[0]["duration_ms"] as? Int ?? 0) >= 1900)
                #expect(try await app.webhookJobs(token: fixture.admin).first?["state"] as? String == "pending")

                app.clock.advance(by: 10)
                try await app.jobs.drain()
                log = try await app.webhookDeliveries(endpoint, token: fixture.admin)
                #expect(log.map { $0["succeeded"] as? Bool } == [true, false])
                #expect(receiver.requests.count == 2)
                #expect(receiver.requests[0].header("webhook-id") == receiver.requests[1].header("webhook-id"))
                let metrics = try await app.send(.get, "/metrics", token: nil).text
                #expect(metrics.contains(#"emporium_webhook_deliveries_total{outcome="timeout"} 1"#))
            }
        }
    }

    @Test func rotationSignsWithBothSecretsForADay() async throws {
        try await WebhookReceiver.run(reply: { _ in .status(200) }) { receiver in
            try await withApp { app in
                let fixture = try await CommerceFixture(app)
                let (endpoint, old) = try await app.createWebhook(url: receiver.url, types: ["order.placed"], token: fixture.admin)
                let rotated = try await app.send(.post, "/v1/admin/webhooks/\(endpoint)/rotate-secret", token: fixture.admin)
                #expect(rotated.status == .ok, "\(rotated.text)")
                let new = try #require(try rotated.jsonObject()["secret"] as? String)
                #expect(new.hasPrefix("whsec_") && new != old)
                #expect(try rotated.jsonObject()["previous_secret_expires_at"] is String)
                let shown = try await app.send(.get, "/v1/admin/webhooks/\(endpoint)", token: fixture.admin)
                #expect(!shown.text.contains(new) && !shown.text.contains(old))
                #expect(try shown.jsonObject()["secret"] == nil)

                _ = try await app.placeOrder(fixture)
                try await app.jobs.drain()
                let during = try #require(receiver.requests.last)
                let id = try #require(during.header("webhook-id"))
                let timestamp = try #require(during.header("webhook-timestamp").flatMap { Int64($0) })
                let signatures = try #require(during.header("webhook-signature")).split(separator: " ").map(String.init)
                #expect(signatures.count == 2)
                #expect(signatures.first == StandardWebhooks.sign(id: id, timestamp: timestamp, body: during.body, secret: new))
                #expect(signatures.last == StandardWebhooks.sign(id: id, timestamp: timestamp, body: during.body, secret: old))

                // A day later the old secret no longer signs.
                app.clock.advance(by: 25 * 3600)
                let admin = try await app.freshAdmin()
                #expect(try await app.webhook(endpoint, token: admin)["previous_secret_expires_at"] is NSNull)
                _ = try await app.placeOrder(fixture)
                try await app.jobs.drain()
                let after = try #require(receiver.requests.last)
                let signature = try #require(after.header("webhook-signature"))
                let afterTimestamp = try #require(after.header("webhook-timestamp").flatMap { Int64($0) })
                #expect(!signature.contains(" "))
                #expect(StandardWebhooks.verify(
                    signature: signature, id: after.header("webhook-id") ?? "", timestamp: afterTimestamp, body: after.body, secret: new))
                #expect(!StandardWebhooks.verify(
                    signature: signature, id: after.header("webhook-id") ?? "", timestamp: afterTimestamp, body: after.body, secret: old))
                let audit = try await app.send(.get, "/v1/admin/audit-log?action=webhook.secret_rotated", token: admin).jsonObject()
                #expect((audit["data"] as? [[String: Any]])?.first?["target"] as? String == endpoint)
            }
        }
    }

    @Test func privateAndMetadataAddressesAreRefusedWithoutTheAllowance() async throws {
        try await withApp(configure: { $0.webhookAllowPrivateAddresses = false }) { app in
            let fixture = try await CommerceFixture(app)
            let refused = [
                "https://169.254.169.254/latest/meta-data/", "https://127.0.0.1/hooks", "https://127.0.0.1:8443/hooks",
                "https://localhost/hooks", "https://[::1]/hooks", "https://[::ffff:127.0.0.1]/hooks", "https://[::ffff:a9fe:a9fe]/",
                "https://[64:ff9b::a9fe:a9fe]/", "https://10.0.0.7/", "https://172.16.5.4/", "https://192.168.1.1/",
                "https://100.64.0.1/", "https://0.0.0.0/", "https://[::]/", "https://[fd00::1]/", "https://[fe80::1]/",
                "https://224.0.0.1/", "https://2130706433/",
                // Plain http is for closed networks only.
                "http://93.184.215.14/hooks",
            ]
            for url in refused {
                let response = try await app.send(
                    .post, "/v1/admin/webhooks", token: fixture.admin, json: #"{"url":"\#(url)","event_types":["*"]}"#)
                try expectInvalid(response, at: "/url")
            }
            let metadata = try await app.send(
                .post, "/v1/admin/webhooks", token: fixture.admin,
                json: #"{"url":"https://169.254.169.254/latest/meta-data/","event_types":["*"]}"#)
            let detail = (try metadata.jsonObject()["errors"] as? [[String: Any]])?.first?["detail"] as? String
            #expect(detail?.contains("169.254.169.254") == true && detail?.contains("link-local") == true, "\(metadata.text)")
            #expect(try await app.count("SELECT COUNT(*) AS n FROM webhook_endpoints") == 0)

            // A public address is fine (nothing is sent when an endpoint is made), but not a
            // change of it to a private one.
            let (endpoint, _) = try await app.createWebhook(url: "https://93.184.215.14/hooks", types: ["order.placed"], token: fixture.admin)
            let moved = try await app.send(
                .patch, "/v1/admin/webhooks/\(endpoint)", token: fixture.admin, json: #"{"url":"https://127.0.0.1/hooks"}"#)
            try expectInvalid(moved, at: "/url")

            // An address that turned private after it was checked is refused at delivery, for good.
            try await app.database.execute("UPDATE webhook_endpoints SET url = 'https://127.0.0.1:1/hooks' WHERE id = \(endpoint)")
            _ = try await app.placeOrder(fixture)
            try await app.jobs.drain()
            let log = try await app.webhookDeliveries(endpoint, token: fixture.admin)
            #expect(log.count == 1 && log[0]["status_code"] is NSNull)
            #expect((log[0]["error"] as? String)?.contains("loopback") == true, "\(log)")
            #expect(try await app.webhookJobs(token: fixture.admin).first?["state"] as? String == "dead")
            let metrics = try await app.send(.get, "/metrics", token: nil).text
            #expect(metrics.contains(#"emporium_webhook_deliveries_total{outcome="refused"} 1"#))
        }
    }

    @Test func anEndpointFailingPastTheLimitIsDisabledAndGetsNothingMore() async throws {
        try await WebhookReceiver.run(reply: { _ in .status(500) }) { receiver in
            try await withApp(configure: { $0.webhookDisableAfter = .seconds(3600) }) { app in
                let fixture = try await CommerceFixture(app)
                let (endpoint, _) = try await app.createWebhook(url: receiver.url, types: ["order.placed"], token: fixture.admin)
                _ = try await app.placeOrder(fixture)
                try await app.jobs.drain()
                // Failing for two hours, past the one-hour limit.
                app.clock.advance(by: 7200)
                try await app.jobs.drain()
                #expect(receiver.requests.count == 2)
                let admin = try await app.freshAdmin()
                let disabled = try await app.webhook(endpoint, token: admin)
                #expect(disabled["active"] as? Bool == false)
                #expect((disabled["disabled_reason"] as? String)?.contains("500") == true)
                #expect(disabled["failing_since"] is String)
                #expect(try await app.webhookJobs(token: admin).first?["state"] as? String == "dead")
                let audit = try await app.send(.get, "/v1/admin/audit-log?action=webhook.disabled", token: admin).jsonObject()
                let entries = try #require(audit["data"] as? [[String: Any]])
                #expect(entries.count == 1 && entries[0]["target"] as? String == endpoint)
                #expect(entries[0]["actor_id"] as? String == nil)
                #expect(app.logs.lines.contains { $0.contains("Disabled a webhook endpoint") })

                _ = try await app.placeOrder(fixture)
                try await app.jobs.drain()
                app.clock.advance(by: 3600)
                try await app.jobs.drain()
                #expect(receiver.requests.count == 2)
                #expect(try await app.count("SELECT COUNT(*) AS n FROM jobs WHERE kind = 'webhook.deliver'") == 1)

                // Re-activated, it starts afresh.
                let revived = try await app.send(
                    .patch, "/v1/admin/webhooks/\(endpoint)", token: try await app.freshAdmin(), json: #"{"active":true}"#)
                #expect(revived.status == .ok)
                let object = try revived.jsonObject()
                #expect(object["active"] as? Bool == true && object["failing_since"] is NSNull && object["disabled_reason"] is NSNull)
            }
        }
    }

    @Test func secretsAreShownOnceAndEndpointsAreManaged() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let created = try await app.send(
                .post, "/v1/admin/webhooks", token: admin,
                json: #"{"url":"http://127.0.0.1:9/hooks","event_types":["order.paid","order.created","order.paid"],"description":"ERP"}"#)
            #expect(created.status == .created, "\(created.text)")
            let object = try created.jsonObject()
            let id = try #require(object["id"] as? String)
            let secret = try #require(object["secret"] as? String)
            #expect(secret.hasPrefix("whsec_"))
            #expect(Data(base64Encoded: String(secret.dropFirst(6))).map { (24...32).contains($0.count) } == true)
            #expect(object["event_types"] as? [String] == ["order.created", "order.paid"])
            #expect(object["active"] as? Bool == true && object["description"] as? String == "ERP")
            #expect(object["failing_since"] is NSNull && object["disabled_reason"] is NSNull)
            let all = try await app.createWebhook(url: "http://127.0.0.1:9/all", types: ["*", "order.paid"], token: admin)
            #expect(try await app.webhook(all.id, token: admin)["event_types"] as? [String] == ["*"])
            // The secret is sealed at rest.
            #expect(try await app.count("SELECT COUNT(*) AS n FROM webhook_endpoints WHERE secret LIKE 'whsec_%'") == 0)

            let list = try await app.send(.get, "/v1/admin/webhooks", token: admin)
            #expect(list.status == .ok)
            let data = try #require(try list.jsonObject()["data"] as? [[String: Any]])
            #expect(data.map { $0["id"] as? String } == [id, all.id])
            #expect(data.allSatisfy { $0["secret"] == nil })
            #expect(!list.text.contains(secret) && !list.text.contains(all.secret) && !list.text.contains("whsec_"))
            let one = try await app.send(.get, "/v1/admin/webhooks/\(id)", token: admin)
            #expect(one.status == .ok && !one.text.contains("whsec_"))
            let page = try await app.send(.get, "/v1/admin/webhooks?limit=1", token: admin).jsonObject()
            let cursor = try #require(page["next_cursor"] as? String)
            let next = try await app.send(.get, "/v1/admin/webhooks?limit=1&cursor=\(cursor)", token: admin).jsonObject()
            #expect((next["data"] as? [[String: Any]])?.first?["id"] as? String == all.id)

            let patched = try await app.send(
                .patch, "/v1/admin/webhooks/\(id)", token: admin,
                json: #"{"url":"http://127.0.0.1:9/v2","event_types":["payment.failed"],"description":null,"active":false}"#)
            #expect(patched.status == .ok, "\(patched.text)")
            let changed = try patched.jsonObject()
            #expect(changed["url"] as? String == "http://127.0.0.1:9/v2" && changed["event_types"] as? [String] == ["payment.failed"])
            #expect(changed["description"] as? String == "" && changed["active"] as? Bool == false)
            #expect(changed["disabled_reason"] is NSNull && !patched.text.contains("whsec_"))

            #expect(try await app.send(.delete, "/v1/admin/webhooks/\(id)", token: admin).status == .noContent)
            #expect(try await app.send(.get, "/v1/admin/webhooks/\(id)", token: admin).status == .notFound)
            #expect(try await app.send(.delete, "/v1/admin/webhooks/\(id)", token: admin).status == .notFound)
            let audit = try await app.send(.get, "/v1/admin/audit-log?limit=100", token: admin).jsonObject()
            let actions = (audit["data"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
            #expect(actions.filter { $0.hasPrefix("webhook.") }.sorted() == ["webhook.created", "webhook.created", "webhook.deleted", "webhook.updated"])
        }
    }

    @Test func badInputIsRefusedWithPointers() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            func create(_ json: String) async throws -> TestResponse {
                try await app.send(.post, "/v1/admin/webhooks", token: admin, json: json)
            }
            let missing = try await create("{}")
            try expectInvalid(missing, at: "/url")
            try expectInvalid(missing, at: "/event_types")
            for url in ["ftp://example.com/x", "not a url", "/relative", "https://user:pw@example.com/", "https://example.com/#x", "https:///x"] {
                try expectInvalid(try await create(#"{"url":"\#(url)","event_types":["*"]}"#), at: "/url")
            }
            try expectInvalid(try await create(#"{"url":"http://127.0.0.1:9/","event_types":[]}"#), at: "/event_types")
            try expectInvalid(try await create(#"{"url":"http://127.0.0.1:9/","event_types":["order.shipped"]}"#), at: "/event_types/0")
            try expectInvalid(try await create(#"{"url":"http://127.0.0.1:9/","event_types":["order.paid","nope"]}"#), at: "/event_types/1")
            try expectInvalid(try await create(#"{"url":"http://127.0.0.1:9/","event_types":["*"],"colour":"red"}"#), at: "/colour")
            try expectInvalid(try await create(#"{"url":"http://127.0.0.1:9/","event_types":["*"],"active":"yes"}"#), at: "/active")
            let long = String(repeating: "x", count: 501)
            try expectInvalid(try await create(#"{"url":"http://127.0.0.1:9/","event_types":["*"],"description":"\#(long)"}"#), at: "/description")
            #expect(try await app.count("SELECT COUNT(*) AS n FROM webhook_endpoints") == 0)

            let (id, _) = try await app.createWebhook(url: "http://127.0.0.1:9/", token: admin)
            try expectInvalid(try await app.send(.patch, "/v1/admin/webhooks/\(id)", token: admin, json: #"{"url":null}"#), at: "/url")
            try expectInvalid(try await app.send(.patch, "/v1/admin/webhooks/\(id)", token: admin, json: #"{"event_types":[]}"#), at: "/event_types")

            let unknown = "0193a1b2-0000-7000-8000-00000000abcd"
            for (method, path) in [
                (HTTPRequest.Method.get, "/v1/admin/webhooks/not-an-id"), (.get, "/v1/admin/webhooks/\(unknown)"),
                (.delete, "/v1/admin/webhooks/\(unknown)"), (.post, "/v1/admin/webhooks/\(unknown)/rotate-secret"),
                (.get, "/v1/admin/webhooks/\(unknown)/deliveries"), (.get, "/v1/admin/webhooks/not-an-id/deliveries"),
                (.post, "/v1/admin/webhooks/\(unknown)/deliveries/\(unknown)/redeliver"),
                (.post, "/v1/admin/webhooks/\(id)/deliveries/\(unknown)/redeliver"),
                (.post, "/v1/admin/webhooks/\(id)/deliveries/nonsense/redeliver"),
            ] {
                #expect(try await app.send(method, path, token: admin).status == .notFound, "\(method) \(path)")
            }
            let patchUnknown = try await app.send(.patch, "/v1/admin/webhooks/\(unknown)", token: admin, json: #"{"active":true}"#)
            #expect(patchUnknown.status == .notFound)
            #expect(try await app.send(.get, "/v1/admin/webhooks?limit=0", token: admin).status == .badRequest)
        }
    }

    @Test func onlyAdminsManageWebhooks() async throws {
        try await withApp { app in
            let admin = try await app.signIn("admin@example.com", as: .admin)
            let staff = try await app.signIn("staff@example.com", as: .staff)
            let customer = try await app.signIn("customer@example.com", as: .customer)
            let key = try await app.createAPIKey(scopes: Set(Scope.allCases), adminToken: admin)
            let (id, _) = try await app.createWebhook(url: "http://127.0.0.1:9/", token: admin)
            let body = #"{"url":"http://127.0.0.1:9/","event_types":["*"]}"#
            for (method, path, json) in [
                (HTTPRequest.Method.get, "/v1/admin/webhooks", nil), (.post, "/v1/admin/webhooks", body),
                (.get, "/v1/admin/webhooks/\(id)", nil), (.patch, "/v1/admin/webhooks/\(id)", #"{"active":false}"#),
                (.delete, "/v1/admin/webhooks/\(id)", nil), (.post, "/v1/admin/webhooks/\(id)/rotate-secret", nil),
                (.get, "/v1/admin/webhooks/\(id)/deliveries", nil),
            ] as [(HTTPRequest.Method, String, String?)] {
                #expect(try await app.send(method, path, token: nil, json: json).status == .unauthorized, "\(method) \(path)")
                for token in [staff, customer, key] {
                    #expect(try await app.send(method, path, token: token, json: json).status == .forbidden, "\(method) \(path)")
                }
            }
            #expect(try await app.webhook(id, token: admin)["active"] as? Bool == true)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM webhook_endpoints") == 1)
        }
    }

    @Test func aDeliveryCanBeSentAgainWithTheSameID() async throws {
        try await WebhookReceiver.run(reply: { _ in .status(200) }) { receiver in
            try await withApp { app in
                let fixture = try await CommerceFixture(app)
                let (endpoint, _) = try await app.createWebhook(url: receiver.url, types: ["order.placed"], token: fixture.admin)
                let (other, _) = try await app.createWebhook(url: receiver.url, types: ["payment.failed"], token: fixture.admin)
                _ = try await app.placeOrder(fixture)
                try await app.jobs.drain()
                #expect(receiver.requests.count == 1)
                let delivery = try #require(try await app.webhookDeliveries(endpoint, token: fixture.admin).first)
                let deliveryID = try #require(delivery["id"] as? String)

                let again = try await app.send(
                    .post, "/v1/admin/webhooks/\(endpoint)/deliveries/\(deliveryID)/redeliver", token: fixture.admin)
                #expect(again.status == .accepted, "\(again.text)")
                #expect(try again.jsonObject()["event_id"] as? String == delivery["event_id"] as? String)
                try await app.jobs.drain()
                let requests = receiver.requests
                #expect(requests.count == 2)
                #expect(requests[1].header("webhook-id") == requests[0].header("webhook-id"))
                #expect(requests[1].body == requests[0].body)
                // Twice more: each redelivery is a job of its own.
                for _ in 0..<2 {
                    #expect(try await app.send(.post, "/v1/admin/webhooks/\(endpoint)/deliveries/\(deliveryID)/redeliver", token: fixture.admin).status == .accepted)
                }
                try await app.jobs.drain()
                #expect(receiver.requests.count == 4)

                let log = try await app.webhookDeliveries(endpoint, token: fixture.admin)
                #expect(log.count == 4 && Set(log.compactMap { $0["event_id"] as? String }).count == 1)
                let first = try await app.send(.get, "/v1/admin/webhooks/\(endpoint)/deliveries?limit=3", token: fixture.admin).jsonObject()
                let cursor = try #require(first["next_cursor"] as? String)
                let rest = try await app.send(.get, "/v1/admin/webhooks/\(endpoint)/deliveries?limit=3&cursor=\(cursor)", token: fixture.admin).jsonObject()
                #expect((rest["data"] as? [[String: Any]])?.first?["id"] as? String == deliveryID)

                // Another endpoint's delivery is not this one's; an inactive endpoint gets nothing.
                #expect(try await app.send(.post, "/v1/admin/webhooks/\(other)/deliveries/\(deliveryID)/redeliver", token: fixture.admin).status == .notFound)
                _ = try await app.send(.patch, "/v1/admin/webhooks/\(endpoint)", token: fixture.admin, json: #"{"active":false}"#)
                let inactive = try await app.send(.post, "/v1/admin/webhooks/\(endpoint)/deliveries/\(deliveryID)/redeliver", token: fixture.admin)
                #expect(inactive.status == .conflict)
                #expect(try app.problemType(inactive) == "urn:emporium:problem:webhook-inactive")
                let audit = try await app.send(.get, "/v1/admin/audit-log?action=webhook.redelivered", token: fixture.admin).jsonObject()
                #expect((audit["data"] as? [Any])?.count == 3)
            }
        }
    }
}
