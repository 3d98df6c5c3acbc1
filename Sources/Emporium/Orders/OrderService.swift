import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Logging

/// What happens to an order after checkout: payment authorized, captured, voided or refunded;
/// the order cancelled with its stock and discount use given back.
///
/// Money is a state machine in the database. Each provider call is preceded by a committed
/// record of what is about to happen (a pending payment, a pending refund, a cancelled order
/// whose authorization is still open) together with a job that finishes it, and followed by a
/// transaction that records the outcome. Provider calls carry idempotency keys made from our
/// own ids (`authorize-<payment>`, `capture-<payment>`, `void-<payment>`, `refund-<refund>`),
/// so the job, a retried request and the first attempt can all make the same call safely: a
/// process that dies at any point leaves work that a job completes by asking the provider.
struct OrderService: Sendable {
    static let reconcileKind = "payment.reconcile"
    static let voidKind = "payment.void"
    static let refundKind = "payment.refund"
    static let releaseKind = "payment.release"
    static let captureKind = "payment.capture"
    /// The request key of the one refund that gives a cancelled order's money back.
    static let cancellationRefund = "cancellation"
    /// How long after a provider call starts its job steps in, if the call has not finished by
    /// then (a dead process or a provider that never answered).
    static let followUpDelay: TimeInterval = 60

    let database: any Database
    let store: OrderStore
    let payments: PaymentStore
    let carts: CartStore
    let inventory: InventoryStore
    let discounts: DiscountStore
    let outbox: Outbox
    let audit: AuditLog
    let jobs: JobStore
    let providers: PaymentProviders
    let captureAutomatically: Bool
    let clock: any WallClock
    let ids: any IDGenerator
    let logger: Logger

    struct EventPayload: Encodable {
        let orderID: String
        let number: Int64
        let status: String
        let email: String
        let currency: String
        let total: Int64
        let amount: Int64?
        var carrier: String?
        var trackingNumber: String?
        var reason: String?

        init(_ order: Order, status: OrderStatus, amount: Int64?) {
            orderID = order.id.description
            number = order.number
            self.status = status.rawValue
            email = order.email
            currency = order.currency.code
            total = order.total
            self.amount = amount
        }

        enum CodingKeys: String, CodingKey {
            case number, status, email, currency, total, amount, carrier, reason
            case orderID = "order_id"
            case trackingNumber = "tracking_number"
        }
    }

    func event(
        _ name: String, _ order: Order, status: OrderStatus? = nil, amount: Int64? = nil, carrier: String? = nil,
        trackingNumber: String? = nil, reason: String? = nil, on db: any SQLExecutor
    ) async throws {
        var payload = EventPayload(order, status: status ?? order.status, amount: amount)
        payload.carrier = carrier
        payload.trackingNumber = trackingNumber
        payload.reason = reason
        try await outbox.record(name, aggregate: "order", id: order.id.description, payload: payload, at: clock.now(), on: db)
    }

    /// Several events of one order, in this order, with no other fields than status and amount.
    func events(_ events: [(name: String, status: OrderStatus, amount: Int64?)], _ order: Order, on db: any SQLExecutor) async throws {
        let records = events.map { event -> (event: String, payload: any Encodable) in
            (event.name, EventPayload(order, status: event.status, amount: event.amount))
        }
        try await outbox.record(records, aggregate: "order", id: order.id.description, at: clock.now(), on: db)
    }

    func follow(
        _ kind: String, id: String, amount: Int64? = nil, on db: any SQLExecutor, delay: TimeInterval = followUpDelay
    ) async throws {
        struct Target: Encodable {
            let id: String
            let amount: Int64?
        }
        // Re-armed when it already ran: a follow-up must run again whenever its cause returns.
        try await jobs.enqueue(
            try JobRequest(kind: kind, payload: Target(id: id, amount: amount), uniqueKey: Self.followUpKey(kind, id: id),
                           runAt: clock.now().addingTimeInterval(delay)),
            maxAttempts: 30, rearm: true, at: clock.now(), on: db)
    }

    /// The follow-up's key: one job per kind and target.
    static func followUpKey(_ kind: String, id: String) -> String { "\(kind):\(id)" }

    /// Queues the follow-up that makes sure a new order's payment ends authorized or failed,
    /// in the transaction that creates the order.
    func followPayment(_ payment: Payment, on db: any SQLExecutor) async throws {
        try await follow(Self.reconcileKind, id: payment.id.description, on: db)
    }

    /// Withdraws the payment's reconcile follow-up once its outcome is recorded in the same
    /// transaction: otherwise every order ran it a minute later only to find nothing pending.
    func settledPayment(_ payment: ID<Payment>, on db: any SQLExecutor) async throws {
        try await jobs.withdraw(uniqueKey: Self.followUpKey(Self.reconcileKind, id: payment.description), on: db)
    }

    // MARK: Stock

    /// Gives back what the order's lines still hold, each line one conditional UPDATE and one
    /// ledger row, in the stock lock order.
    func releaseStock(of order: Order, on db: any SQLExecutor) async throws {
        let held = try await store.lines(of: order.id, on: db).compactMap { line -> InventoryStore.StockChange? in
            guard let location = line.reservedLocationID, line.outstanding > 0 else { return nil }
            return InventoryStore.StockChange(
                variantID: line.variantID, locationID: location, onHandDelta: 0, reservedDelta: -line.outstanding, sku: line.sku)
        }
        let missing = try await inventory.release(held, reference: "order \(order.displayNumber)", at: clock.now(), on: db)
        for change in missing {
            logger.error("Reservation of an order line was missing when released", metadata: ["order": "\(order.id)", "sku": "\(change.sku)"])
        }
    }

    // MARK: Cancelling

    /// Cancels an order whose payment never went through (declined, or not authorized in
    /// time): stock and discount use come back, the payment is marked failed and the cart is
    /// open again. False when the order was no longer pending.
    func cancelUnpaid(_ order: Order, reason: String, failureCode: String?, on db: any SQLExecutor) async throws -> Bool {
        let now = clock.now()
        guard try await store.transition(
            order.id, from: .pending, by: .paymentFailed, at: now,
            // Never confirmed: the sealed access token kept for that e-mail goes.
            extra: ", cancelled_at = \(now), cancel_reason = \(reason), reservation_expires_at = NULL, access_token_sealed = NULL",
            on: db)
        else {
            // Cancelled otherwise meanwhile: a payment still pending has failed all the same.
            if let failed = try await payments.recordPaymentFailure(of: order.id, code: failureCode ?? reason, at: now, on: db) {
                try await settledPayment(failed, on: db)
                if failureCode == nil {
                    try await follow(Self.releaseKind, id: failed.description, on: db, delay: 2 * Self.followUpDelay)
                }
            }
            return false
        }
        try await releaseStock(of: order, on: db)
        try await discounts.release(order: order.id, on: db)
        if let failed = try await payments.recordPaymentFailure(of: order.id, code: failureCode ?? reason, at: now, on: db) {
            try await settledPayment(failed, on: db)
        }
        if failureCode == nil, let payment = try await payments.payment(of: order.id, on: db) {
            // Given up without an answer from the provider: should the authorization still land
            // (a slow provider, a request in flight), a later look gives the money back.
            try await follow(Self.releaseKind, id: payment.id.description, on: db, delay: 2 * Self.followUpDelay)
        }
        // The shopper may try again, unless they have started another cart meanwhile.
        try await carts.reopen(order.cartID, at: now, on: db)
        if let failureCode {
            try await event("payment.failed", order, status: .cancelled, reason: failureCode, on: db)
        }
        try await event("order.cancelled", order, status: .cancelled, reason: reason, on: db)
        return true
    }

    /// Cancels an order before fulfilment at a customer's or the shop's request: stock and the
    /// discount use come back, and in the same transaction the money is set to go back: an
    /// open authorization gets a void job, a capture a pending refund of the rest with its job.
    /// Both are then tried at once; when the provider does not answer, the job retries until
    /// the money is back (or the job is dead, which /metrics shows).
    func cancel(_ id: ID<Order>, reason: String, actor: AuditLog.Actor, origin: RequestOrigin) async throws -> Order {
        let refundID: ID<Refund> = ids.make()
        let (order, payment, refund) = try await database.transaction { db -> (Order, Payment?, Refund?) in
            guard let order = try await store.find(id, on: db) else { throw OrderStore.notFound }
            guard order.status.isCancellable else {
                throw Problem(.conflict, slug: "order-not-cancellable", title: "Order cannot be cancelled",
                              detail: "An order that is \(order.status.rawValue) cannot be cancelled; refund it instead.")
            }
            let now = clock.now()
            guard try await store.transition(
                id, from: order.status, by: .cancelled, at: now,
                extra: ", cancelled_at = \(now), cancel_reason = \(reason), reservation_expires_at = NULL", on: db)
            else { throw OrderStore.changed }
            try await releaseStock(of: order, on: db)
            try await discounts.release(order: id, on: db)
            try await audit.record(.init(actor: actor, action: "order.cancelled", target: order.displayNumber, origin: origin), on: db)
            try await event("order.cancelled", order, status: .cancelled, reason: reason, on: db)
            let payment = try await payments.payment(of: id, on: db)
            var refund: Refund?
            switch payment?.status {
            case .authorized?:
                try await follow(Self.voidKind, id: payment!.id.description, on: db)
            case .captured? where payment!.captured > payment!.refunded:
                refund = try await payments.reserveRefund(
                    refundID, of: id, amount: payment!.captured - payment!.refunded, reason: "cancelled",
                    requestKey: Self.cancellationRefund, at: now, on: db)?.1
                if refund != nil { try await follow(Self.refundKind, id: refundID.description, on: db) }
            default:
                // A pending payment is settled by its reconcile job, which voids or refunds what
                // the provider took for an order that is cancelled by then.
                break
            }
            return (order, payment, refund)
        }
        // The jobs queued above finish these if they do not finish now.
        do {
            if let refund {
                try await settle(refund, of: order)
            } else if let payment, payment.status == .authorized {
                try await voidAuthorization(payment.id)
            }
        } catch {
            logger.error("Giving back a cancelled order's money failed; its job retries it", metadata: ["order": "\(order.displayNumber)", "error": "\(error)"])
        }
        return try await reread(id)
    }

    func reread(_ id: ID<Order>) async throws -> Order {
        guard let order = try await store.find(id, on: database) else { throw OrderStore.notFound }
        return order
    }

    /// Releases the open authorization of a cancelled order. Safe to repeat.
    func voidAuthorization(_ paymentID: ID<Payment>) async throws {
        guard let payment = try await payments.payment(paymentID, on: database), payment.status == .authorized else { return }
        guard let provider = providers[payment.provider], let reference = payment.providerReference else {
            throw JobFailure.retry("the payment's provider \(payment.provider) is not enabled on this node")
        }
        do {
            try await provider.void(reference: reference, idempotencyKey: "void-\(payment.id)")
        } catch .timeout {
            throw JobFailure.retry("the provider did not answer the void")
        } catch {
            // Refused: perhaps because a capture whose answer was lost went through. Then the
            // capture is recorded and refunded in full instead.
            guard case .succeeded? = try await lookupOrRetry(provider, "capture-\(payment.id)", payment, reference: reference) else {
                throw JobFailure.permanent("the provider refused to void the authorization: \(error)")
            }
            try await database.transaction { db in
                _ = try await payments.recordCapture(payment.id, amount: payment.authorized, at: clock.now(), on: db)
                try await refundCapture(of: payment.orderID, on: db)
            }
            return
        }
        _ = try await payments.recordVoid(payment.id, at: clock.now(), on: database)
    }

    /// Reserves a refund of everything captured and not yet refunded of a cancelled order's
    /// payment, with its job; nothing when the money is already on its way back.
    func refundCapture(of order: ID<Order>, on db: any SQLExecutor) async throws {
        guard let payment = try await payments.payment(of: order, on: db), payment.captured > payment.refunded,
            try await payments.refund(requestKey: Self.cancellationRefund, of: order, on: db) == nil
        else { return }
        let refundID: ID<Refund> = ids.make()
        if try await payments.reserveRefund(
            refundID, of: order, amount: payment.captured - payment.refunded, reason: "cancelled",
            requestKey: Self.cancellationRefund, at: clock.now(), on: db) != nil
        {
            try await follow(Self.refundKind, id: refundID.description, on: db, delay: 0)
        }
    }

    // MARK: Refunds

    /// Refunds part or all of what was captured. The amount is taken from the payment's
    /// refundable balance first, with a pending refund and its job, in one transaction; then
    /// the provider is asked. A refund the provider refuses gives its amount back; one it did
    /// not answer stays pending (answered 202) and its job finishes it. A retry with the same
    /// `requestKey` resumes the same refund, so it can never pay out twice. `author` is audited
    /// as `order.refund_requested` in the transaction that reserves the refund, so a refund asked
    /// for twice at once (a resent form, a retried request) is audited once; whether it was paid
    /// is the refund's own state and the `order.refunded` event's, not the audit entry's.
    func refund(
        _ order: Order, amount: Int64, reason: String?, requestKey: String, author: (actor: AuditLog.Actor, origin: RequestOrigin)
    ) async throws -> Refund {
        if let earlier = try await payments.refund(requestKey: requestKey, of: order.id, on: database) {
            return earlier.status == .pending ? try await settle(earlier, of: order) : earlier
        }
        let now = clock.now()
        let refundID: ID<Refund> = ids.make()
        let refund: Refund
        do {
            refund = try await reserve(refundID, of: order, amount: amount, reason: reason, requestKey: requestKey, author: author, at: now)
        } catch DatabaseError.uniqueViolation {
            // An overlapping attempt with the same key made it first: resume that one.
            guard let earlier = try await payments.refund(requestKey: requestKey, of: order.id, on: database) else { throw OrderStore.changed }
            return earlier.status == .pending ? try await settle(earlier, of: order) : earlier
        }
        return try await settle(refund, of: order)
    }

    private func reserve(
        _ refundID: ID<Refund>, of order: Order, amount: Int64, reason: String?, requestKey: String,
        author: (actor: AuditLog.Actor, origin: RequestOrigin), at now: Date
    ) async throws -> Refund {
        try await database.transaction { db -> Refund in
            guard let (_, refund) = try await payments.reserveRefund(
                refundID, of: order.id, amount: amount, reason: reason, requestKey: requestKey, at: now, on: db)
            else {
                // An overlapping attempt with the same key may have taken the balance first.
                if try await payments.refund(requestKey: requestKey, of: order.id, on: db) != nil {
                    throw DatabaseError.uniqueViolation(constraint: "refunds_request_key")
                }
                let payment = try await payments.payment(of: order.id, on: db)
                let refundable = payment.map { $0.captured - $0.refunded } ?? 0
                throw Problem(.conflict, slug: "refund-exceeds-captured", title: "Refund too large",
                              detail: "At most \(refundable) minor units of this order can still be refunded.")
            }
            try await follow(Self.refundKind, id: refundID.description, on: db)
            try await audit.record(
                .init(actor: author.actor, action: "order.refund_requested", target: "\(order.displayNumber) \(refund.amount)", origin: author.origin),
                on: db)
            return refund
        }
    }

    /// Asks the provider to pay a pending refund out and records the answer. Returns the refund
    /// as it now is: succeeded, or still pending when the provider did not answer. Throws the
    /// provider's refusal (after giving the amount back).
    @discardableResult
    func settle(_ refund: Refund, of order: Order) async throws -> Refund {
        guard let payment = try await payments.payment(refund.paymentID, on: database) else { throw OrderStore.notFound }
        var settled = refund
        let reference: String
        do {
            guard let provider = providers[payment.provider], let authorization = payment.providerReference else {
                throw PaymentFailure.timeout
            }
            reference = try await provider.refund(
                reference: authorization, amount: Money(minorUnits: refund.amount, currency: payment.currency),
                idempotencyKey: "refund-\(refund.id)")
        } catch PaymentFailure.timeout {
            // The provider may have paid it out: the refund stays pending with its amount held,
            // so that nothing can refund it again, until its job settles it.
            logger.warning("A refund's provider call did not finish; its job retries it", metadata: ["refund": "\(refund.id)"])
            return settled
        } catch {
            _ = try await database.transaction { db in try await payments.recordRefundFailed(refund, at: clock.now(), on: db) }
            throw Self.providerProblem(error)
        }
        try await database.transaction { db in
            let now = clock.now()
            guard try await payments.recordRefundSucceeded(refund.id, reference: reference, at: now, on: db) else { return }
            // The order's status follows the money where the state machine lets it (a cancelled
            // order stays cancelled).
            var status = order.status
            if let current = try await store.find(order.id, on: db), let paid = try await payments.payment(of: order.id, on: db) {
                status = current.status
                let event: OrderEvent = paid.refunded >= paid.captured ? .refunded : .partiallyRefunded
                if let next = try? current.status.applying(event),
                    try await store.transition(order.id, from: current.status, by: event, at: now, on: db)
                {
                    status = next
                }
            }
            try await self.event("order.refunded", order, status: status, amount: refund.amount, on: db)
        }
        settled.status = .succeeded
        settled.providerReference = reference
        return settled
    }

    static func providerProblem(_ error: any Error) -> any Error {
        guard let failure = error as? PaymentFailure else { return error }
        switch failure {
        case .declined(let code), .rejected(let code):
            return Problem(.badGateway, slug: "payment-provider-refused", title: "Payment provider refused",
                           detail: "The payment provider refused the request: \(code).")
        case .timeout:
            return Problem(.gatewayTimeout, slug: "payment-provider-timeout", title: "Payment provider timed out",
                           detail: "The payment provider did not answer in time; repeat the request with the same Idempotency-Key.")
        }
    }
}
