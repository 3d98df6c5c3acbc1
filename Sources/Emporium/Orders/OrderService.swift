import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Logging

/// What happens to an order after checkout: payment authorized, captured, voided or refunded;
/// the order cancelled with its stock and discount use given back. Each database step is one
/// transaction; provider calls happen between them, never inside one, and carry idempotency
/// keys made from our own ids.
struct OrderService: Sendable {
    let database: any Database
    let store: OrderStore
    let inventory: InventoryStore
    let discounts: DiscountStore
    let outbox: Outbox
    let audit: AuditLog
    let providers: PaymentProviders
    let captureAutomatically: Bool
    let clock: any WallClock
    let ids: any IDGenerator
    let logger: Logger

    struct EventPayload: Encodable {
        let orderID: String
        let number: Int64
        let status: String
        let currency: String
        let total: Int64
        let amount: Int64?

        enum CodingKeys: String, CodingKey {
            case number, status, currency, total, amount
            case orderID = "order_id"
        }
    }

    func event(_ name: String, _ order: Order, status: OrderStatus? = nil, amount: Int64? = nil, on db: any SQLExecutor) async throws {
        let payload = EventPayload(
            orderID: order.id.description, number: order.number, status: (status ?? order.status).rawValue,
            currency: order.currency.code, total: order.total, amount: amount)
        try await outbox.record(name, aggregate: "order", id: order.id.description, payload: payload, at: clock.now(), on: db)
    }

    // MARK: Stock

    /// Gives back what the order's lines still hold, each line one conditional UPDATE and one
    /// ledger row, in variant order like reservation.
    func releaseStock(of order: Order, on db: any SQLExecutor) async throws {
        let now = clock.now()
        for line in try await store.lines(of: order.id, on: db).sorted(by: { $0.variantID.description < $1.variantID.description }) {
            guard let location = line.reservedLocationID, line.outstanding > 0 else { continue }
            let released = try await db.queryFirst("""
                UPDATE inventory_levels SET reserved = reserved - \(line.outstanding), updated_at = \(now)
                WHERE variant_id = \(line.variantID) AND location_id = \(location) AND reserved >= \(line.outstanding)
                RETURNING reserved
                """)
            guard released != nil else {
                logger.error("Reservation of an order line was missing when released", metadata: ["order": "\(order.id)", "sku": "\(line.sku)"])
                continue
            }
            try await inventory.record(
                InventoryMovement(
                    id: ids.make(), variantID: line.variantID, locationID: location, onHandDelta: 0,
                    reservedDelta: -line.outstanding, reason: "released", reference: "order \(order.displayNumber)",
                    actor: nil, createdAt: now),
                on: db)
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
            extra: ", cancelled_at = \(now), cancel_reason = \(reason), reservation_expires_at = NULL", on: db)
        else { return false }
        try await releaseStock(of: order, on: db)
        try await discounts.release(order: order.id, on: db)
        try await db.execute("""
            UPDATE payments SET status = 'failed', failure_code = \(failureCode ?? reason), updated_at = \(now)
            WHERE order_id = \(order.id) AND status = 'pending'
            """)
        // The shopper may try again, unless they have started another cart meanwhile.
        try await db.execute("""
            UPDATE carts SET status = 'open', version = version + 1, updated_at = \(now)
            WHERE id = \(order.cartID) AND status = 'converted'
              AND (user_id IS NULL OR NOT EXISTS (SELECT 1 FROM carts other WHERE other.user_id = carts.user_id AND other.status = 'open'))
            """)
        try await event("order.cancelled", order, status: .cancelled, on: db)
        return true
    }

    /// Cancels an order before fulfilment at a customer's or the shop's request: stock and the
    /// discount use come back, then an authorization is voided or a capture refunded in full.
    func cancel(_ id: ID<Order>, reason: String, actor: AuditLog.Actor, origin: RequestOrigin) async throws -> Order {
        let order = try await database.transaction { db -> Order in
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
            try await event("order.cancelled", order, status: .cancelled, on: db)
            return order
        }
        guard let payment = try await store.payment(of: id, on: database), let reference = payment.providerReference,
            let provider = providers[payment.provider]
        else { return try await reread(id) }
        switch payment.status {
        case .authorized:
            do {
                try await provider.void(reference: reference, idempotencyKey: "void-\(payment.id)")
                try await database.execute("UPDATE payments SET status = 'voided', updated_at = \(clock.now()) WHERE id = \(payment.id)")
            } catch {
                logger.error("Voiding a cancelled order's authorization failed; it lapses at the provider", metadata: ["order": "\(order.displayNumber)", "error": "\(error)"])
            }
        case .captured where payment.captured > payment.refunded:
            _ = try? await refund(order, amount: payment.captured - payment.refunded, reason: "cancelled")
        default: break
        }
        return try await reread(id)
    }

    private func reread(_ id: ID<Order>) async throws -> Order {
        guard let order = try await store.find(id, on: database) else { throw OrderStore.notFound }
        return order
    }

    // MARK: Payment

    /// Records an approved authorization. With automatic capture the money is taken first, so
    /// that authorization and capture land in one transaction; a failed capture leaves the order
    /// authorized for staff to capture. Returns the order and payment as they now are.
    func authorized(_ order: Order, payment: Payment, reference: String) async throws -> (Order, Payment) {
        var captured = false
        if captureAutomatically, let provider = providers[payment.provider] {
            do {
                try await provider.capture(
                    reference: reference, amount: Money(minorUnits: payment.amount, currency: payment.currency),
                    idempotencyKey: "capture-\(payment.id)")
                captured = true
            } catch {
                logger.warning("Automatic capture failed; the order stays authorized for a manual capture", metadata: ["order": "\(order.displayNumber)", "error": "\(error)"])
            }
        }
        let now = clock.now()
        var events: [OrderEvent] = [.paymentAuthorized]
        if captured { events.append(.captured) }
        do {
            try await database.transaction { db in
                try await db.execute("""
                    UPDATE payments SET status = \(captured ? "captured" : "authorized"), provider_reference = \(reference),
                        authorized = amount, captured = \(captured ? payment.amount : 0), captured_at = \(captured ? now : nil),
                        updated_at = \(now)
                    WHERE id = \(payment.id) AND status = 'pending'
                    """)
                guard try await store.transition(
                    order.id, from: .pending, through: events, at: now, extra: ", placed_at = \(now), reservation_expires_at = NULL",
                    on: db)
                else { throw Problem(.conflict, slug: "order-changed", title: "Order changed", detail: "The order was cancelled before its payment was confirmed; nothing was charged.") }
                try await event("order.placed", order, status: .authorized, on: db)
                if captured { try await event("order.paid", order, status: .paid, amount: payment.amount, on: db) }
            }
        } catch let problem as Problem where problem.slug == OrderStore.changed.slug {
            // Only the reservation sweeper cancels a pending order, after --reservation-timeout:
            // give the money back rather than keep it for an order that no longer exists.
            if let provider = providers[payment.provider] {
                let amount = Money(minorUnits: payment.amount, currency: payment.currency)
                if captured { _ = try? await provider.refund(reference: reference, amount: amount, idempotencyKey: "refund-late-\(payment.id)") }
                else { try? await provider.void(reference: reference, idempotencyKey: "void-\(payment.id)") }
            }
            throw problem
        }
        var updated = order
        updated.status = captured ? .paid : .authorized
        updated.placedAt = now
        updated.reservationExpiresAt = nil
        updated.updatedAt = now
        updated.version += 1
        var settled = payment
        settled.status = captured ? .captured : .authorized
        settled.providerReference = reference
        settled.authorized = payment.amount
        settled.captured = captured ? payment.amount : 0
        settled.capturedAt = captured ? now : nil
        return (updated, settled)
    }

    /// Captures the whole authorization of an authorized order. Safe to repeat: the provider
    /// sees one idempotency key per payment, and only one request moves the order to paid.
    func capture(_ id: ID<Order>) async throws -> Order {
        guard let order = try await store.find(id, on: database), let payment = try await store.payment(of: id, on: database) else {
            throw OrderStore.notFound
        }
        if order.status == .paid, payment.status == .captured { return order }
        guard order.status == .authorized, payment.status == .authorized, let reference = payment.providerReference,
            let provider = providers[payment.provider]
        else {
            throw Problem(.conflict, slug: "not-capturable", title: "Nothing to capture",
                          detail: "Only an authorized order's payment can be captured; this order is \(order.status.rawValue).")
        }
        do {
            try await provider.capture(reference: reference, amount: Money(minorUnits: payment.authorized, currency: payment.currency), idempotencyKey: "capture-\(payment.id)")
        } catch {
            throw Self.providerProblem(error)
        }
        try await database.transaction { db in
            let now = clock.now()
            try await db.execute("""
                UPDATE payments SET status = 'captured', captured = authorized, captured_at = \(now), updated_at = \(now)
                WHERE id = \(payment.id) AND status = 'authorized'
                """)
            if try await store.transition(id, from: .authorized, by: .captured, at: now, on: db) {
                try await event("order.paid", order, status: .paid, amount: payment.authorized, on: db)
            }
        }
        return try await reread(id)
    }

    /// Refunds part or all of what was captured. The amount is taken from the payment's
    /// refundable balance first, in one conditional UPDATE, so concurrent refunds can never add
    /// up to more than was captured; a refund the provider refuses gives its amount back, one
    /// it did not answer stays pending (answered 202).
    func refund(_ order: Order, amount: Int64, reason: String?) async throws -> Refund {
        let now = clock.now()
        let refundID: ID<Refund> = ids.make()
        let payment = try await database.transaction { db -> Payment in
            guard let row = try await db.queryFirst("""
                UPDATE payments SET refunded = refunded + \(amount), updated_at = \(now)
                WHERE order_id = \(order.id) AND refunded + \(amount) <= captured RETURNING *
                """)
            else {
                let payment = try await store.payment(of: order.id, on: db)
                let refundable = payment.map { $0.captured - $0.refunded } ?? 0
                throw Problem(.conflict, slug: "refund-exceeds-captured", title: "Refund too large",
                              detail: "At most \(refundable) minor units of this order can still be refunded.")
            }
            let payment = try OrderStore.decodePayment(row)
            try await db.execute("""
                INSERT INTO refunds (id, payment_id, order_id, amount, reason, status, created_at, updated_at)
                VALUES (\(refundID), \(payment.id), \(order.id), \(amount), \(reason), 'pending', \(now), \(now))
                """)
            return payment
        }
        var refund = Refund(id: refundID, paymentID: payment.id, orderID: order.id, amount: amount, reason: reason, status: .pending, providerReference: nil, createdAt: now)
        do {
            guard let provider = providers[payment.provider], let reference = payment.providerReference else {
                throw PaymentFailure.rejected("the payment's provider is not enabled on this node")
            }
            refund.providerReference = try await provider.refund(
                reference: reference, amount: Money(minorUnits: amount, currency: payment.currency), idempotencyKey: "refund-\(refundID)")
            refund.status = .succeeded
        } catch PaymentFailure.timeout {
            // The provider may have paid it out: the refund stays pending with its amount held,
            // so that no retry can refund it again, until it is reconciled with the provider.
            logger.warning("A refund's provider call timed out; it stays pending", metadata: ["refund": "\(refundID)"])
            return refund
        } catch {
            try await database.transaction { db in
                try await db.execute("UPDATE refunds SET status = 'failed', updated_at = \(clock.now()) WHERE id = \(refundID)")
                try await db.execute("UPDATE payments SET refunded = refunded - \(amount) WHERE id = \(payment.id)")
            }
            throw Self.providerProblem(error)
        }
        try await database.transaction { db in
            let now = clock.now()
            try await db.execute("""
                UPDATE refunds SET status = 'succeeded', provider_reference = \(refund.providerReference), updated_at = \(now)
                WHERE id = \(refundID)
                """)
            // The order's status follows the money where the state machine lets it (a cancelled
            // order stays cancelled).
            if let current = try await store.find(order.id, on: db), let paid = try await store.payment(of: order.id, on: db) {
                let event: OrderEvent = paid.refunded >= paid.captured ? .refunded : .partiallyRefunded
                if (try? current.status.applying(event)) != nil {
                    _ = try await store.transition(order.id, from: current.status, by: event, at: now, on: db)
                }
            }
            try await self.event("order.refunded", order, amount: amount, on: db)
        }
        return refund
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
