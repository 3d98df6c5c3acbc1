import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// Money after the commit: provider calls that time out, succeed without answering or fail,
/// and the jobs that finish them. Each test checks the provider's own ledger against ours.
@Suite struct PaymentRecoveryTests {
    @Test func aChargeWhoseAnswerWasLostIsFoundByTheRetryWithTheSameKey() async throws {
        let provider = TestPaymentProvider()
        try await withApp(paymentProviders: [provider]) { app in
            let fixture = try await CommerceFixture(app)
            let cart = try await app.readyCart(fixture)
            let first = try await app.checkout(cart, key: "lost-answer", token: "tok_timeoutAfterCharge")
            #expect(first.status == .gatewayTimeout)
            #expect(try app.problemType(first) == "urn:emporium:problem:payment-timeout")
            // Not stored: the retry asks again, resumes the same order and gets it paid at once.
            let retry = try await app.checkout(cart, key: "lost-answer", token: "tok_timeoutAfterCharge")
            #expect(retry.status == .created, "\(retry.text)")
            #expect(try retry.jsonObject()["status"] as? String == "paid")
            #expect(provider.authorizationCount == 1)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders") == 1)
            // And from now on the answer is stored.
            #expect(try await app.checkout(cart, key: "lost-answer", token: "tok_timeoutAfterCharge").text == retry.text)
        }
    }

    @Test func aPaymentSettledByItsRequestLeavesNoFollowUpBehind() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app)
            // Each follow-up is queued with its order; the request that learns the outcome
            // withdraws it in the transaction that records that outcome.
            #expect(try await app.checkout(try await app.readyCart(fixture), token: "tok_visa").status == .created)
            #expect(try await app.checkout(try await app.readyCart(fixture), token: "tok_chargeDeclined").status.code == 402)
            #expect(try await app.jobStates("payment.reconcile") == [])
            // No answer: the follow-up stays, to find out later.
            #expect(try await app.checkout(try await app.readyCart(fixture), token: "tok_timeout").status == .gatewayTimeout)
            #expect(try await app.jobStates("payment.reconcile") == ["pending"])
        }
    }

    @Test func aChargeNobodyRetriedIsRecordedByItsFollowUpJob() async throws {
        let provider = TestPaymentProvider()
        try await withApp(paymentProviders: [provider]) { app in
            let fixture = try await CommerceFixture(app)
            let cart = try await app.readyCart(fixture)
            #expect(try await app.checkout(cart, token: "tok_timeoutAfterCharge").status == .gatewayTimeout)
            let order = try #require(try await app.database.queryFirst("SELECT id, status FROM orders"))
            #expect(try order.decode("status", as: String.self) == "pending")
            // The follow-up waits a minute, then asks the provider and records the charge.
            try await app.jobs.drain()
            #expect(try await app.jobStates("payment.reconcile") == ["pending"])
            app.clock.advance(by: 61)
            try await app.jobs.drain()
            let id: String = try order.decode("id")
            let paid = try await app.send(.get, "/v1/admin/orders/\(id)", token: fixture.admin).jsonObject()
            #expect(paid["status"] as? String == "paid")
            let total = try #require((paid["payment"] as? [String: Any])?["amount"] as? Int)
            #expect((paid["payment"] as? [String: Any])?["captured"] as? Int == total)
            #expect(provider.totals.captured == Int64(total))
            #expect(try await app.sentMail().filter { $0.contains("confirmed") }.count == 1)
        }
    }

    @Test func aPaymentTheProviderNeverSawIsCancelledWhenTheReservationRunsOut() async throws {
        try await withApp { app in
            let fixture = try await CommerceFixture(app)
            let cart = try await app.readyCart(fixture)
            let first = try await app.checkout(cart, key: "k", token: "tok_timeout")
            #expect(first.status == .gatewayTimeout)
            app.clock.advance(by: 61)
            try await app.jobs.drain()
            // Still within the reservation: the job waits without spending attempts.
            let waiting = try #require(try await app.database.queryFirst("SELECT state, attempts FROM jobs WHERE kind = 'payment.reconcile'"))
            #expect(try waiting.decode("state", as: String.self) == "pending")
            #expect(try waiting.decode("attempts", as: Int64.self) == 0)
            app.clock.advance(by: 900)
            try await app.jobs.drain()
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders WHERE status = 'cancelled'") == 1)
            #expect(try await app.stock(fixture).reserved == 0)
            // The retry now gets a final refusal, and the cart is open for another try.
            let retry = try await app.checkout(cart, key: "k", token: "tok_timeout")
            #expect(retry.status.code == 402)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM carts WHERE status = 'open'") == 1)
        }
    }

    @Test func aChargeThatLandsOnACancelledOrderIsGivenBack() async throws {
        let provider = TestPaymentProvider()
        try await withApp(paymentProviders: [provider]) { app in
            let fixture = try await CommerceFixture(app)
            #expect(try await app.checkout(try await app.readyCart(fixture), token: "tok_timeoutAfterCharge").status == .gatewayTimeout)
            let id: String = try #require(try await app.database.queryFirst("SELECT id FROM orders")).decode("id")
            // Staff cancel the pending order; the provider had in fact taken the money.
            #expect(try await app.send(.post, "/v1/admin/orders/\(id)/cancel", token: fixture.admin).status == .ok)
            app.clock.advance(by: 61)
            try await app.jobs.drain()
            // Found by the follow-up: never captured for the cancelled order, the authorization voided.
            #expect(provider.totals.captured == 0)
            #expect(provider.totals.voided == 1)
            let order = try await app.send(.get, "/v1/admin/orders/\(id)", token: fixture.admin).jsonObject()
            #expect(order["status"] as? String == "cancelled")
            #expect((order["payment"] as? [String: Any])?["status"] as? String == "voided")
        }
    }

    @Test func anAuthorizationThatLandsAfterThePaymentWasGivenUpIsReleased() async throws {
        let provider = TestPaymentProvider()
        try await withApp(paymentProviders: [provider]) { app in
            let fixture = try await CommerceFixture(app)
            #expect(try await app.checkout(try await app.readyCart(fixture), token: "tok_timeout").status == .gatewayTimeout)
            let paymentID: String = try #require(try await app.database.queryFirst("SELECT id FROM payments")).decode("id")
            // The reservation runs out with nothing at the provider: the order is cancelled.
            app.clock.advance(by: 901)
            try await app.jobs.drain()
            #expect(try await app.count("SELECT COUNT(*) AS n FROM orders WHERE status = 'cancelled'") == 1)
            // Then the provider approves the request after all (it was still in flight).
            let money = Money(minorUnits: 1773, currency: try #require(Currency(code: "EUR")))
            _ = try await provider.authorize(amount: money, token: "tok_visa", idempotencyKey: "authorize-\(paymentID)")
            app.clock.advance(by: 121)
            try await app.jobs.drain()
            #expect(provider.totals.voided == 1)
            let payment = try #require(try await app.database.queryFirst("SELECT status, provider_reference FROM payments"))
            #expect(try payment.decode("status", as: String.self) == "voided")
            #expect(try payment.decode("provider_reference", as: String?.self) != nil)
            #expect(try await app.jobStates("payment.release") == ["done"])
        }
    }

    @Test func aRefundWhoseAnswerWasLostIsNeverPaidTwice() async throws {
        let provider = TestPaymentProvider()
        try await withApp(paymentProviders: [provider]) { app in
            let fixture = try await CommerceFixture(app)
            let id = try #require(try await app.placeOrder(fixture)["id"] as? String)
            provider.inject(.timeoutAfterEffect, into: .refund)
            let first = try await app.refund(id, amount: 1000, key: "refund-1", token: fixture.admin)
            #expect(first.status == .accepted)
            let refundID = try #require(try first.jsonObject()["id"] as? String)
            let retry = try await app.refund(id, amount: 1000, key: "refund-1", token: fixture.admin)
            #expect(retry.status == .created, "\(retry.text)")
            #expect(try retry.jsonObject()["id"] as? String == refundID)
            #expect(provider.effects(of: .refund) == 1)
            #expect(provider.totals.refunded == 1000)
            // Its follow-up job finds it done.
            app.clock.advance(by: 61)
            try await app.jobs.drain()
            #expect(provider.effects(of: .refund) == 1)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM refunds WHERE status = 'succeeded'") == 1)
        }
    }

    @Test func aCancelledOrdersMoneyGoesBackEvenWhenTheProviderFailsAtFirst() async throws {
        let provider = TestPaymentProvider()
        try await withApp(paymentProviders: [provider]) { app in
            let fixture = try await CommerceFixture(app)
            let id = try #require(try await app.placeOrder(fixture)["id"] as? String)
            provider.inject(.timeout, into: .refund, count: 2)
            let cancelled = try await app.send(.post, "/v1/admin/orders/\(id)/cancel", token: fixture.admin)
            #expect(cancelled.status == .ok)
            #expect(try cancelled.jsonObject()["status"] as? String == "cancelled")
            #expect(provider.totals.refunded == 0)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM refunds WHERE status = 'pending'") == 1)
            app.clock.advance(by: 61)
            try await app.jobs.drain()
            // The first try of the job timed out too; it backs off and tries again.
            #expect(provider.totals.refunded == 0)
            app.clock.advance(by: 120)
            try await app.jobs.drain()
            #expect(provider.totals.refunded == 2963)
            #expect(provider.effects(of: .refund) == 1)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM refunds WHERE status = 'succeeded' AND amount = 2963") == 1)
            #expect(try await app.jobStates("payment.refund") == ["done"])
        }
    }

    @Test func anAuthorizedOrderCancelledIsVoidedByItsJobWhenTheProviderIsSlow() async throws {
        let provider = TestPaymentProvider()
        try await withApp(configure: { $0.paymentCapture = .manual }, paymentProviders: [provider]) { app in
            let fixture = try await CommerceFixture(app)
            let id = try #require(try await app.placeOrder(fixture)["id"] as? String)
            provider.inject(.timeout, into: .void)
            #expect(try await app.send(.post, "/v1/admin/orders/\(id)/cancel", token: fixture.admin).status == .ok)
            #expect(provider.totals.voided == 0)
            app.clock.advance(by: 61)
            try await app.jobs.drain()
            #expect(provider.totals.voided == 1)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM payments WHERE status = 'voided'") == 1)
        }
    }

    @Test func aCaptureWhoseAnswerWasLostIsRecordedByItsJob() async throws {
        let provider = TestPaymentProvider()
        try await withApp(configure: { $0.paymentCapture = .manual }, paymentProviders: [provider]) { app in
            let fixture = try await CommerceFixture(app)
            let id = try #require(try await app.placeOrder(fixture)["id"] as? String)
            provider.inject(.timeoutAfterEffect, into: .capture)
            #expect(try await app.send(.post, "/v1/admin/orders/\(id)/capture", token: fixture.admin).status == .gatewayTimeout)
            app.clock.advance(by: 61)
            try await app.jobs.drain()
            #expect(try await app.send(.get, "/v1/admin/orders/\(id)", token: fixture.admin).jsonObject()["status"] as? String == "paid")
            #expect(provider.effects(of: .capture) == 1)
        }
    }

    @Test func cancellingAfterACaptureWhoseAnswerWasLostRefundsIt() async throws {
        let provider = TestPaymentProvider()
        try await withApp(configure: { $0.paymentCapture = .manual }, paymentProviders: [provider]) { app in
            let fixture = try await CommerceFixture(app)
            let id = try #require(try await app.placeOrder(fixture)["id"] as? String)
            provider.inject(.timeoutAfterEffect, into: .capture)
            // A capture and a cancel race; the capture's answer is lost.
            async let capture = app.send(.post, "/v1/admin/orders/\(id)/capture", token: fixture.admin)
            async let cancel = app.send(.post, "/v1/admin/orders/\(id)/cancel", token: fixture.admin)
            _ = try await (capture, cancel)
            try await app.jobs.drain()
            app.clock.advance(by: 61)
            try await app.jobs.drain()
            // Whichever came first, the money the provider took went back.
            #expect(provider.totals.refunded == provider.totals.captured)
            #expect(try await app.send(.get, "/v1/admin/orders/\(id)", token: fixture.admin).jsonObject()["status"] as? String == "cancelled")
        }
    }

    @Test func aVoidRefusedBecauseALostCaptureWentThroughBecomesARefund() async throws {
        let provider = TestPaymentProvider()
        try await withApp(configure: { $0.paymentCapture = .manual }, paymentProviders: [provider]) { app in
            let fixture = try await CommerceFixture(app)
            let id = try #require(try await app.placeOrder(fixture)["id"] as? String)
            provider.inject(.timeoutAfterEffect, into: .capture)
            #expect(try await app.send(.post, "/v1/admin/orders/\(id)/capture", token: fixture.admin).status == .gatewayTimeout)
            // Still authorized in our books; the cancel's void is refused, the capture found and refunded.
            #expect(try await app.send(.post, "/v1/admin/orders/\(id)/cancel", token: fixture.admin).status == .ok)
            try await app.jobs.drain()
            app.clock.advance(by: 61)
            try await app.jobs.drain()
            #expect(provider.totals.captured == 2963)
            #expect(provider.totals.refunded == 2963)
            #expect(provider.effects(of: .refund) == 1)
            let order = try await app.send(.get, "/v1/admin/orders/\(id)", token: fixture.admin).jsonObject()
            #expect(order["status"] as? String == "cancelled")
            #expect((order["payment"] as? [String: Any])?["refunded"] as? Int == 2963)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM jobs WHERE state = 'dead'") == 0)
        }
    }

    @Test func processesSharingALedgerFileSeeEachOthersCalls() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = try TestPaymentProvider(ledgerPath: path)
        let worker = try TestPaymentProvider(ledgerPath: path)
        let money = Money(minorUnits: 1000, currency: try #require(Currency(code: "EUR")))
        let reference = try await server.authorize(amount: money, token: "tok_visa", idempotencyKey: "authorize-1").reference
        #expect(try await worker.lookup(idempotencyKey: "authorize-1", amount: money, reference: nil) == .succeeded(reference: reference))
        try await worker.capture(reference: reference, amount: money, idempotencyKey: "capture-1")
        // The same key again on the other one moves no money; a restart remembers everything.
        try await server.capture(reference: reference, amount: money, idempotencyKey: "capture-1")
        let restarted = try TestPaymentProvider(ledgerPath: path)
        #expect(restarted.totals.captured == 1000)
        #expect(restarted.effects(of: .capture) == 1)
        #expect(try await restarted.lookup(idempotencyKey: "authorize-nope", amount: money, reference: nil) == nil)
    }

    @Test func concurrentRefundsWithLostAnswersNeverExceedTheCapture() async throws {
        let provider = TestPaymentProvider()
        try await withApp(paymentProviders: [provider]) { app in
            let fixture = try await CommerceFixture(app)
            let id = try #require(try await app.placeOrder(fixture)["id"] as? String)
            provider.inject(.timeoutAfterEffect, into: .refund, count: 5)
            // Ten refunds of 4.00 against 29.63, each sent twice with its key.
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for index in 0..<20 {
                    group.addTask { try await app.refund(id, amount: 400, key: "r\(index % 10)", token: fixture.admin) }
                }
                return try await group.reduce(into: [TestResponse]()) { $0.append($1) }
            }
            #expect(answers.allSatisfy { [.created, .accepted, .conflict].contains($0.status) })
            app.clock.advance(by: 61)
            try await app.jobs.drain()
            let payment = try #require(try await app.database.queryFirst("SELECT refunded, captured FROM payments"))
            let refunded: Int64 = try payment.decode("refunded")
            #expect(refunded <= 2963)
            #expect(refunded == 2800)
            #expect(provider.totals.refunded == refunded)
            #expect(try await app.count("SELECT COUNT(*) AS n FROM refunds WHERE status = 'succeeded'") == 7)
        }
    }

    @Test func theTestProviderIsOffOnPostgreSQLUnlessAskedForAndAnnouncedWhenOn() async throws {
        var configuration = AppConfiguration()
        #expect(configuration.testPaymentsEnabled)
        configuration.databaseURL = try DatabaseURL(parsing: "postgres://u:p@127.0.0.1:5432/shop")
        #expect(!configuration.testPaymentsEnabled)
        configuration.testPayments = true
        #expect(configuration.testPaymentsEnabled)
        try await withApp { app in
            #expect(app.logs.lines.contains { $0.contains("test payment provider is on") })
        }
    }
}
