import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Logging

/// The payment half of the order service: recording what the provider did (authorization,
/// capture), settling payments a request or a dead process left unfinished, and the jobs that
/// do so. See `OrderService` for the rules they follow.
extension OrderService {
    // MARK: Payment

    /// Records an approved authorization. With automatic capture the money is taken first, so
    /// that authorization and capture land in one transaction; a failed capture leaves the order
    /// authorized for staff to capture. Returns the order and payment as they now are.
    ///
    /// A twin of this call (the reconcile job, or a retried checkout) may have recorded it
    /// first: then the order is answered as it is. An order cancelled meanwhile (its
    /// reservation ran out) keeps nothing: the money goes back by a job.
    func authorized(_ order: Order, payment: Payment, reference: String) async throws -> (Order, Payment) {
        // A payment given up meanwhile (declined elsewhere, cancelled as never authorized) is
        // not captured; whatever the provider holds for it goes back by a job. An order
        // cancelled meanwhile is not captured either: its authorization is voided instead.
        guard let (fresh, orderStatus) = try await payments.paymentWithOrderStatus(payment.id, on: database) else {
            throw OrderStore.notFound
        }
        if fresh.status == .failed || fresh.status == .voided { try await givenUp(order, payment) }
        var captured = false
        var captureUnknown = false
        if captureAutomatically, orderStatus == .pending, fresh.status == .pending, let provider = providers[payment.provider] {
            do {
                try await provider.capture(
                    reference: reference, amount: Money(minorUnits: payment.amount, currency: payment.currency),
                    idempotencyKey: "capture-\(payment.id)")
                captured = true
            } catch .timeout {
                // It may have gone through: recorded as authorized, and a job finishes the capture.
                captureUnknown = true
            } catch {
                logger.warning("Automatic capture failed; the order stays authorized for a manual capture", metadata: ["order": "\(order.displayNumber)", "error": "\(error)"])
            }
        }
        let now = clock.now()
        var events: [OrderEvent] = [.paymentAuthorized]
        if captured { events.append(.captured) }
        /// What the transaction did.
        enum Recorded {
            /// Recorded the payment and placed the order (the usual case): both as written, so
            /// nothing needs reading again.
            case placed(Order, Payment)
            /// Recorded the payment, but the order had been cancelled meanwhile.
            case recordedOnly
            /// A twin recorded the payment first, or it was given up.
            case nothing
        }
        let recorded = try await database.transaction { db -> Recorded in
            // The order first, as cancelling takes it, then its payment: never the other way round.
            try await store.lock(order.id, on: db)
            guard let settled = try await payments.recordAuthorization(payment.id, reference: reference, captured: captured, at: now, on: db)
            else { return .nothing }
            try await settledPayment(payment.id, on: db)
            if let placed = try await store.transitioned(
                order.id, from: .pending, through: events, at: now, extra: ", placed_at = \(now), reservation_expires_at = NULL",
                on: db)
            {
                // Placed, and paid with it when captured: one write for both.
                try await self.events(
                    [("order.placed", .authorized, nil)] + (captured ? [("order.paid", .paid, payment.amount)] : []), order, on: db)
                if captureUnknown { try await follow(Self.captureKind, id: payment.id.description, on: db, delay: 0) }
                return .placed(placed, settled)
            } else if captured {
                // Cancelled before its payment was confirmed (its reservation ran out, or someone
                // cancelled it): give the money back rather than keep it.
                try await refundCapture(of: order.id, on: db)
            } else {
                // The void job also finds a capture whose answer was lost and refunds it.
                try await follow(Self.voidKind, id: payment.id.description, on: db, delay: 0)
            }
            return .recordedOnly
        }
        if case .placed(let placed, let settled) = recorded { return (placed, settled) }
        guard let current = try await store.find(order.id, on: database), let settled = try await payments.payment(of: order.id, on: database)
        else { throw OrderStore.notFound }
        if case .nothing = recorded, settled.status == .pending { throw OrderStore.changed }
        if case .nothing = recorded, settled.status == .failed || settled.status == .voided { try await givenUp(order, payment) }
        if current.status == .cancelled {
            throw Problem(.conflict, slug: "order-changed", title: "Order changed",
                          detail: "The order was cancelled before its payment was confirmed; the money is being given back.")
        }
        return (current, settled)
    }

    /// The provider approved a payment we had given up: a job gives back whatever it holds.
    func givenUp(_ order: Order, _ payment: Payment) async throws -> Never {
        try await follow(Self.releaseKind, id: payment.id.description, on: database, delay: 0)
        logger.error("A payment that had been given up was approved by the provider; it is being given back", metadata: ["order": "\(order.displayNumber)"])
        throw Problem(.conflict, slug: "order-changed", title: "Order changed",
                      detail: "The order was cancelled before its payment was confirmed; the money is being given back.")
    }

    /// Brings a payment that is still pending to its end by asking the provider what became of
    /// the authorization: recorded when it was approved (captured too, with automatic
    /// capture), the order cancelled when it was declined, or when the provider never saw it
    /// and the reservation has run out. Run by the reconcile job and by the sweeper.
    func reconcile(_ paymentID: ID<Payment>) async throws {
        guard let payment = try await payments.payment(paymentID, on: database), payment.status == .pending,
            let order = try await store.find(payment.orderID, on: database)
        else { return }
        guard let provider = providers[payment.provider] else {
            throw JobFailure.retry("the payment's provider \(payment.provider) is not enabled on this node")
        }
        let record = try await lookupOrRetry(provider, "authorize-\(payment.id)", payment, reference: payment.providerReference)
        switch record {
        case .succeeded(let reference)?:
            do {
                _ = try await authorized(order, payment: payment, reference: reference)
            } catch let problem as Problem where problem.slug == OrderStore.changed.slug {
                return
            }
        case .failed(let code)?:
            _ = try await database.transaction { db in
                try await cancelUnpaid(order, reason: "payment_declined", failureCode: code, on: db)
            }
        case nil where order.status != .pending:
            // Cancelled before the provider confirmed anything: the payment has failed, and a
            // later look gives back an authorization that lands after all.
            try await database.transaction { db in
                if let failed = try await payments.recordPaymentFailure(of: order.id, code: "not_authorized", at: clock.now(), on: db) {
                    try await settledPayment(failed, on: db)
                    try await follow(Self.releaseKind, id: payment.id.description, on: db, delay: 2 * Self.followUpDelay)
                }
            }
        case nil, .awaitingAction?:
            let expiry = order.reservationExpiresAt ?? clock.now()
            guard expiry <= clock.now() else {
                throw JobFailure.notYet(until: expiry, record == nil
                    ? "the provider has no record of the authorization yet; waiting for the reservation to run out"
                    : "the payment waits for the customer (3-D Secure); waiting for the provider or the reservation to run out")
            }
            // A payment still waiting for the customer is cancelled at the provider by the
            // release job this queues, so that it can no longer be approved.
            _ = try await database.transaction { db in
                try await cancelUnpaid(order, reason: "payment_not_authorized", failureCode: nil, on: db)
            }
        }
    }

    /// What a provider's webhook says about a payment, brought into our books the way the
    /// reconcile job does it (asking the provider, not trusting the event's copy): a pending
    /// payment ends authorized or failed, a payment given up has its money given back, and a
    /// pending refund is settled. Safe to repeat and to run beside the checkout request.
    func providerReported(_ paymentID: ID<Payment>) async throws {
        guard let payment = try await payments.payment(paymentID, on: database) else { return }
        switch payment.status {
        case .pending:
            do {
                try await reconcile(paymentID)
            } catch JobFailure.notYet {
                // Not settled yet (the customer has still to act); the reconcile job keeps watching.
            }
        case .failed, .voided:
            // Approved after we gave it up: the release job gives it back (and retries until it has).
            try await follow(Self.releaseKind, id: payment.id.description, on: database, delay: 0)
        case .authorized, .captured:
            for refund in try await payments.refunds(of: payment.orderID, on: database) where refund.status == .pending {
                try await follow(Self.refundKind, id: refund.id.description, on: database, delay: 0)
            }
        }
    }

    /// Captures an authorized order's payment: all of the authorization, or `amount` of it
    /// (a partial capture; the provider releases the rest). Safe to repeat: the amount is in
    /// the job recorded before the provider is asked, the provider sees one idempotency key per
    /// payment and amount, and only one request moves the order to paid.
    /// `author`, when given, is audited as `order.captured` in the transaction that records the
    /// capture, so a capture asked for twice (a resent form, a retried request) is audited once.
    func capture(
        _ id: ID<Order>, amount requested: Int64? = nil, author: (actor: AuditLog.Actor, origin: RequestOrigin)? = nil
    ) async throws -> Order {
        guard let order = try await store.find(id, on: database), let payment = try await payments.payment(of: id, on: database) else {
            throw OrderStore.notFound
        }
        if order.status == .paid, payment.status == .captured { return order }
        guard order.status == .authorized, payment.status == .authorized, let reference = payment.providerReference,
            let provider = providers[payment.provider]
        else {
            throw Problem(.conflict, slug: "not-capturable", title: "Nothing to capture",
                          detail: "Only an authorized order's payment can be captured; this order is \(order.status.rawValue).")
        }
        let amount = requested ?? payment.authorized
        guard amount > 0, amount <= payment.authorized else {
            throw Problem.validation([.init(pointer: "/amount", detail: "must be from 1 to the authorized \(payment.authorized)")])
        }
        // One amount at a time: a capture whose outcome is still being settled keeps its own.
        if let payload = try await jobs.unfinishedPayload(uniqueKey: "\(Self.captureKind):\(payment.id)", on: database),
            let settling = try? JSONDecoder().decode(Target.self, from: Data(payload.utf8)),
            (settling.amount ?? payment.authorized) != amount
        {
            throw Problem(.conflict, slug: "capture-in-progress", title: "Another capture is being settled",
                          detail: "A capture of \(settling.amount ?? payment.authorized) is still being settled with the provider; try again in a minute.")
        }
        // The intent first: should this request die after the provider captured, the job records it.
        try await follow(Self.captureKind, id: payment.id.description, amount: amount, on: database)
        do {
            try await provider.capture(
                reference: reference, amount: Money(minorUnits: amount, currency: payment.currency),
                idempotencyKey: Self.captureKey(payment, amount: amount))
        } catch {
            throw Self.providerProblem(error)
        }
        try await recordCaptured(payment, amount: amount, of: order, author: author)
        return try await reread(id)
    }

    /// The provider's idempotency key of a capture: the full capture keeps the key it always had.
    static func captureKey(_ payment: Payment, amount: Int64) -> String {
        amount == payment.authorized ? "capture-\(payment.id)" : "capture-\(payment.id)-\(amount)"
    }

    /// Records a capture the provider confirmed: the order becomes paid, or, when it was
    /// cancelled meanwhile, the captured money is refunded.
    func recordCaptured(
        _ payment: Payment, amount: Int64, of order: Order, author: (actor: AuditLog.Actor, origin: RequestOrigin)? = nil
    ) async throws {
        try await database.transaction { db in
            let now = clock.now()
            // The order first, as cancelling takes it, then its payment: never the other way round.
            try await store.lock(order.id, on: db)
            _ = try await payments.recordCapture(payment.id, amount: amount, at: now, on: db)
            if try await store.transition(order.id, from: .authorized, by: .captured, at: now, on: db) {
                if let author {
                    try await audit.record(
                        .init(actor: author.actor, action: "order.captured", target: order.displayNumber, origin: author.origin), on: db)
                }
                try await event("order.paid", order, status: .paid, amount: amount, on: db)
            } else if try await store.find(order.id, on: db)?.status == .cancelled {
                try await refundCapture(of: order.id, on: db)
            }
        }
    }

    /// Finishes a capture whose answer was lost (or whose request died): asks the provider with
    /// the same key and records what it says.
    func finishCapture(_ paymentID: ID<Payment>, amount requested: Int64?) async throws {
        guard let payment = try await payments.payment(paymentID, on: database), payment.status == .authorized,
            let order = try await store.find(payment.orderID, on: database), let reference = payment.providerReference
        else { return }
        guard let provider = providers[payment.provider] else {
            throw JobFailure.retry("the payment's provider \(payment.provider) is not enabled on this node")
        }
        let amount = requested ?? payment.authorized
        let key = Self.captureKey(payment, amount: amount)
        if order.status == .authorized {
            do {
                try await provider.capture(
                    reference: reference, amount: Money(minorUnits: amount, currency: payment.currency), idempotencyKey: key)
            } catch .timeout {
                throw JobFailure.retry("the provider did not answer the capture")
            } catch {
                throw JobFailure.permanent("the provider refused the capture: \(error)")
            }
            try await recordCaptured(payment, amount: amount, of: order)
        } else if case .succeeded? = try await lookupOrRetry(provider, key, payment, reference: reference) {
            // Cancelled meanwhile, and the capture did go through: record it and refund it.
            try await recordCaptured(payment, amount: amount, of: order)
        }
    }

    func lookupOrRetry(_ provider: any PaymentProvider, _ key: String, _ payment: Payment, reference: String?) async throws -> ProviderRecord? {
        do {
            return try await provider.lookup(
                idempotencyKey: key, amount: Money(minorUnits: payment.amount, currency: payment.currency), reference: reference)
        } catch {
            throw JobFailure.retry("the provider did not answer the lookup: \(error)")
        }
    }

    // MARK: Jobs

    struct Target: Decodable {
        let id: String
        /// A capture's amount, when it was not the whole authorization.
        var amount: Int64?
    }

    /// Gives back what the provider holds for a payment we gave up (failed or voided): a
    /// capture is refunded, an open authorization voided, each with its own key. Nothing when
    /// the provider never approved it.
    func release(_ paymentID: ID<Payment>) async throws {
        guard let payment = try await payments.payment(paymentID, on: database), payment.status == .failed || payment.status == .voided,
            payment.captured == 0
        else { return }
        guard let provider = providers[payment.provider] else {
            throw JobFailure.retry("the payment's provider \(payment.provider) is not enabled on this node")
        }
        let reference: String
        switch try await lookupOrRetry(provider, "authorize-\(payment.id)", payment, reference: payment.providerReference) {
        case .succeeded(let approved)?:
            reference = approved
        case .awaitingAction(let open)?:
            // Still waiting for the customer: cancelled at the provider, so it can no longer be approved.
            guard payment.status == .failed else { return }
            do {
                try await provider.void(reference: open, idempotencyKey: "release-void-\(payment.id)")
            } catch .timeout {
                throw JobFailure.retry("the provider did not answer the cancellation")
            } catch {
                // Approved meanwhile: the next run finds it authorized and gives it back.
                throw JobFailure.retry("the provider refused to cancel a payment given up: \(error)")
            }
            return
        case .failed?, nil:
            return
        }
        var captured = false
        if case .succeeded? = try await lookupOrRetry(provider, "capture-\(payment.id)", payment, reference: reference) { captured = true }
        if !captured {
            guard payment.status == .failed else { return }
            do {
                try await provider.void(reference: reference, idempotencyKey: "release-void-\(payment.id)")
            } catch .timeout {
                throw JobFailure.retry("the provider did not answer the void")
            } catch {
                // Refused: a capture may have landed since the look; refund it then.
                guard case .succeeded? = try await lookupOrRetry(provider, "capture-\(payment.id)", payment, reference: reference) else {
                    throw JobFailure.permanent("the provider refused to void an authorization given up: \(error)")
                }
                captured = true
            }
        }
        var refund: (id: ID<Refund>, reference: String)?
        if captured {
            do {
                let refundReference = try await provider.refund(
                    reference: reference, amount: Money(minorUnits: payment.amount, currency: payment.currency),
                    idempotencyKey: "release-refund-\(payment.id)")
                refund = (ids.make(), refundReference)
            } catch .timeout {
                throw JobFailure.retry("the provider did not answer the refund")
            } catch {
                throw JobFailure.permanent("the provider refused to refund a capture given up: \(error)")
            }
        }
        try await database.transaction { db in
            try await payments.recordRelease(payment, reference: reference, refund: refund, at: clock.now(), on: db)
        }
        logger.notice("Gave back money the provider took for a payment that had been given up", metadata: ["payment": "\(payment.id)"])
    }

    /// The jobs that finish what a request or a dead process left: pending payments, voids of
    /// cancelled orders, pending refunds.
    var jobKinds: [JobKind] {
        let patient = JobKind.exponential(base: 10, cap: 1800)
        return [
            JobKind(Self.reconcileKind, maxAttempts: 30, backoff: patient) { job in
                guard let id = ID<Payment>(try job.decode(Target.self).id) else { throw JobFailure.permanent("not a payment id") }
                try await reconcile(id)
            },
            JobKind(Self.voidKind, maxAttempts: 30, backoff: patient) { job in
                guard let id = ID<Payment>(try job.decode(Target.self).id) else { throw JobFailure.permanent("not a payment id") }
                try await voidAuthorization(id)
            },
            JobKind(Self.releaseKind, maxAttempts: 30, backoff: patient) { job in
                guard let id = ID<Payment>(try job.decode(Target.self).id) else { throw JobFailure.permanent("not a payment id") }
                try await release(id)
            },
            JobKind(Self.captureKind, maxAttempts: 30, backoff: patient) { job in
                let target = try job.decode(Target.self)
                guard let id = ID<Payment>(target.id) else { throw JobFailure.permanent("not a payment id") }
                try await finishCapture(id, amount: target.amount)
            },
            JobKind(Self.refundKind, maxAttempts: 30, backoff: patient) { job in
                guard let id = ID<Refund>(try job.decode(Target.self).id) else { throw JobFailure.permanent("not a refund id") }
                guard let refund = try await payments.refund(id, on: database) else { return }
                if refund.status == .failed, refund.requestKey == Self.cancellationRefund {
                    // Money of a cancelled order the provider would not give back: a person decides.
                    throw JobFailure.permanent("the provider refused to refund the cancelled order's payment")
                }
                guard refund.status == .pending else { return }
                guard let order = try await store.find(refund.orderID, on: database) else { return }
                do {
                    let settled = try await settle(refund, of: order)
                    if settled.status == .pending { throw JobFailure.retry("the provider did not answer the refund") }
                } catch let problem as Problem {
                    throw JobFailure.permanent("the provider refused the refund: \(problem.detail ?? problem.title)")
                }
            },
        ]
    }
}
