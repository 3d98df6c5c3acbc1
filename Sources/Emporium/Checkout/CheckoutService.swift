import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes

/// Turns a cart into an order (DESIGN §3: the one place that orchestrates cart, inventory,
/// pricing, payment, order and events).
///
/// One transaction re-prices the cart, reserves stock, takes the discount use, numbers and
/// writes the order and marks the cart converted. Only after it commits is the payment
/// authorized, so no database lock is held while the provider thinks. A decline cancels the
/// order and gives everything back in a second transaction.
struct CheckoutService: Sendable {
    let database: any Database
    let carts: CartStore
    let pricer: CartPricer
    let orders: OrderStore
    let inventory: InventoryStore
    let discounts: DiscountStore
    let service: OrderService
    /// How long an order waits for its payment before its stock is released.
    let reservationTimeout: TimeInterval
    let clock: any WallClock
    let ids: any IDGenerator

    struct PaymentInput: Codable, Sendable {
        var provider: String?
        var token: String?
    }

    struct Input: Codable, Sendable {
        var payment: PaymentInput?
    }

    /// Why a checkout stopped before anything was written.
    private enum Refusal: Error {
        /// Prices moved since the lines were added: the new ones, to write into the cart.
        case pricesChanged([(ID<CartItem>, Int64)], skus: [String])
    }

    /// Places the order and asks for the money; the answer is what the client gets (and what
    /// a retry with the same Idempotency-Key gets again, when it is final).
    ///
    /// `requestKey` links the order to the request: a retry after a crash or a timeout finds
    /// the order the first attempt made and resumes its payment with the same provider key,
    /// so the shopper gets that order — paid, pending or declined — and is never charged twice.
    func checkout(
        _ cart: Cart, expectedVersion: Int64?, provider: any PaymentProvider, token: String, path: String, requestKey: String
    ) async throws -> Idempotency.Stored {
        if let earlier = try await orders.order(checkoutKey: requestKey, cart: cart.id, on: database) {
            return try await resume(earlier, provider: provider, token: token, path: path)
        }
        let placed: (order: Order, lines: [OrderLine], payment: Payment)
        do {
            placed = try await database.transaction { db in
                try await createOrder(
                    from: cart, expectedVersion: expectedVersion, provider: provider.name, requestKey: requestKey, on: db)
            }
        } catch Refusal.pricesChanged(let changes, let skus) {
            try await database.transaction { db in
                for (item, price) in changes { try await carts.reprice(item, to: price, at: clock.now(), on: db) }
                try await carts.touch(cart.id, at: clock.now(), on: db)
            }
            throw Problem(.conflict, slug: "price-changed", title: "Prices changed",
                          detail: "Prices of \(skus.joined(separator: ", ")) changed since they were added; the cart shows the new ones. Review it and check out again.")
        }
        return try await pay(placed.order, lines: placed.lines, payment: placed.payment, provider: provider, token: token, path: path)
    }

    /// Answers a checkout whose order an earlier attempt made.
    private func resume(_ order: Order, provider: any PaymentProvider, token: String, path: String) async throws -> Idempotency.Stored {
        guard let payment = try await orders.payment(of: order.id, on: database) else { throw OrderStore.notFound }
        let lines = try await orders.lines(of: order.id, on: database)
        switch payment.status {
        case .pending where order.status == .pending:
            return try await pay(order, lines: lines, payment: payment, provider: provider, token: token, path: path)
        case .failed:
            return Self.declined(order, code: payment.failureCode ?? "declined", path: path)
        default:
            return try Idempotency.Stored(status: .created, json: OrderResponse(order, lines: lines, payment: payment))
        }
    }

    private func pay(
        _ order: Order, lines: [OrderLine], payment: Payment, provider: any PaymentProvider, token: String, path: String
    ) async throws -> Idempotency.Stored {
        let reference: String
        do {
            reference = try await provider.authorize(
                amount: Money(minorUnits: order.total, currency: order.currency), token: token,
                idempotencyKey: "authorize-\(payment.id)")
        } catch {
            switch error {
            case .timeout:
                // Not final: the payment may still go through. The retry resumes this order.
                return Idempotency.Stored(problem: Problem(
                    .gatewayTimeout, slug: "payment-timeout", title: "Payment not confirmed",
                    detail: "The payment provider did not answer in time. Order \(order.displayNumber) holds its stock for \(Int(reservationTimeout / 60)) minutes; repeat the request with the same Idempotency-Key to learn whether it was paid. If its payment is not confirmed in that time it is cancelled and the cart opens again."),
                    path: path).provisional
            case .declined(let code), .rejected(let code):
                _ = try await database.transaction { db in
                    try await service.cancelUnpaid(order, reason: "payment_declined", failureCode: code, on: db)
                }
                return Self.declined(order, code: code, path: path)
            }
        }
        let (final, settled) = try await service.authorized(order, payment: payment, reference: reference)
        return try Idempotency.Stored(status: .created, json: OrderResponse(final, lines: lines, payment: settled))
    }

    private static func declined(_ order: Order, code: String, path: String) -> Idempotency.Stored {
        Idempotency.Stored(problem: Problem(
            HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required"), slug: "payment-declined", title: "Payment declined",
            detail: "The payment was declined (\(code)). Nothing was charged and the cart is open again; check out with another means of payment and a new Idempotency-Key."),
            path: path)
    }

    private func createOrder(
        from cart: Cart, expectedVersion: Int64?, provider: String, requestKey: String, on db: any SQLExecutor
    ) async throws -> (order: Order, lines: [OrderLine], payment: Payment) {
        let now = clock.now()
        // Claiming the cart first serialises checkouts of one cart: the losers stop here.
        guard let cart = try await carts.claim(cart.id, expectedVersion: expectedVersion, converting: true, at: now, on: db) else {
            throw try await carts.find(cart.id, on: db)?.status == .open ? CartRoutes.stale : CartRoutes.notOpen
        }
        let items = try await carts.items(of: cart, on: db)

        var missing = FieldErrors()
        if items.isEmpty { missing.add("/items", "the cart is empty") }
        if cart.email == nil { missing.add("/email", "set an e-mail address") }
        if cart.shippingAddress == nil { missing.add("/shipping_address", "set a shipping address") }
        if cart.shippingMethodID == nil { missing.add("/shipping_method", "choose a shipping method") }
        if !missing.all.isEmpty {
            throw Problem(.conflict, slug: "cart-incomplete", title: "Cart incomplete",
                          detail: "The cart lacks what an order needs.", errors: missing.all)
        }
        var unavailable = FieldErrors()
        var changes: [(ID<CartItem>, Int64)] = []
        for (index, item) in items.enumerated() {
            guard let price = item.currentPrice else {
                unavailable.add("/items/\(index)", "\(item.sku) is not for sale in \(cart.currency.code) any more")
                continue
            }
            if price != item.unitPrice { changes.append((item.id, price)) }
        }
        if !unavailable.all.isEmpty {
            throw Problem(.conflict, slug: "item-unavailable", title: "Item unavailable",
                          detail: "Some items can no longer be bought; remove them.", errors: unavailable.all)
        }
        if !changes.isEmpty {
            let skus = items.filter { item in changes.contains { $0.0 == item.id } }.map(\.sku)
            throw Refusal.pricesChanged(changes, skus: skus)
        }

        let quote = try await pricer.quote(cart, items: items, on: db)
        if let refusal = quote.discountRefusal { throw refusal.problem }
        guard let method = quote.shippingMethod, let address = cart.shippingAddress, let email = cart.email else {
            throw Problem(.conflict, slug: "cart-incomplete", title: "Cart incomplete",
                          detail: "The chosen shipping method no longer applies to this cart; choose another.",
                          errors: [.init(pointer: "/shipping_method", detail: "choose a shipping method that ships this cart")])
        }

        let number = try await orders.nextNumber(on: db)
        let orderID: ID<Order> = ids.make()
        let locations = try await reserve(items, order: "#\(number)", at: now, on: db)
        let order = Order(
            id: orderID, number: number, cartID: cart.id, userID: cart.userID, email: email, currency: cart.currency,
            status: .pending, subtotal: quote.breakdown.subtotal, discount: quote.breakdown.discount,
            shipping: quote.breakdown.shipping, tax: quote.breakdown.tax, total: quote.breakdown.total,
            taxIncluded: quote.breakdown.taxIncluded, discountID: quote.discount?.id, discountCode: quote.discount?.code,
            shippingMethodID: method.id, shippingMethodName: method.name, shippingAddress: address,
            reservationExpiresAt: now.addingTimeInterval(reservationTimeout), placedAt: nil, cancelledAt: nil,
            cancelReason: nil, version: 1, createdAt: now, updatedAt: now)
        let lines = zip(items, quote.breakdown.lines).enumerated().map { index, pair in
            let (item, priced) = pair
            return OrderLine(
                id: ids.make(), position: Int64(index), variantID: item.variantID, productID: item.productID, sku: item.sku,
                title: item.title, quantity: item.quantity, unitPrice: item.unitPrice, subtotal: priced.subtotal,
                discount: priced.discount, tax: priced.tax, reservedLocationID: locations[item.variantID],
                fulfilledQuantity: 0)
        }
        let payment = Payment(
            id: ids.make(), orderID: orderID, provider: provider, providerReference: nil, status: .pending,
            currency: cart.currency, amount: order.total, authorized: 0, captured: 0, refunded: 0, failureCode: nil,
            capturedAt: nil)
        try await orders.insert(order, lines: lines, payment: payment, checkoutKey: requestKey, at: now, on: db)
        try await service.followPayment(payment, on: db)
        if let discount = quote.discount {
            do {
                try await discounts.redeem(discount, order: orderID, customer: cart.userID?.description ?? email, at: now, on: db)
            } catch let refusal as DiscountRefusal {
                throw refusal.problem
            }
        }
        try await service.event("order.created", order, on: db)
        return (order, lines, payment)
    }

    /// Reserves every line's stock at one location, variants in a fixed order so that two
    /// checkouts never wait for each other's rows in opposite orders. Each reservation is one
    /// conditional UPDATE, never read-then-write; back-ordered variants reserve nothing.
    private func reserve(_ items: [CartItem], order: String, at now: Date, on db: any SQLExecutor) async throws -> [ID<Variant>: ID<StockLocation>] {
        var locations: [ID<Variant>: ID<StockLocation>] = [:]
        var short = FieldErrors()
        for (index, item) in items.enumerated().sorted(by: { $0.element.variantID.description < $1.element.variantID.description }) {
            let quantity = item.quantity
            var reserved = try await db.queryFirst("""
                UPDATE inventory_levels SET reserved = reserved + \(quantity), updated_at = \(now)
                WHERE variant_id = \(item.variantID) AND on_hand - reserved >= \(quantity) AND location_id = (
                    SELECT location_id FROM inventory_levels
                    WHERE variant_id = \(item.variantID) AND on_hand - reserved >= \(quantity) ORDER BY location_id LIMIT 1)
                RETURNING location_id
                """)
            if reserved == nil {
                // Another checkout may have taken the location chosen above; try each in turn.
                for row in try await db.query("SELECT location_id FROM inventory_levels WHERE variant_id = \(item.variantID) ORDER BY location_id") {
                    let location: String = try row.decode("location_id")
                    reserved = try await db.queryFirst("""
                        UPDATE inventory_levels SET reserved = reserved + \(quantity), updated_at = \(now)
                        WHERE variant_id = \(item.variantID) AND location_id = \(location) AND on_hand - reserved >= \(quantity)
                        RETURNING location_id
                        """)
                    if reserved != nil { break }
                }
            }
            guard let reserved else {
                if item.backorder { continue }
                let available = try await inventory.available(of: item.variantID, on: db)
                short.add("/items/\(index)", "\(item.sku) (variant \(item.variantID)): \(available) available, \(quantity) wanted")
                continue
            }
            let location: ID<StockLocation> = try reserved.decode("location_id")
            locations[item.variantID] = location
            try await inventory.record(
                InventoryMovement(
                    id: ids.make(), variantID: item.variantID, locationID: location, onHandDelta: 0, reservedDelta: quantity,
                    reason: "reserved", reference: "order \(order)", actor: nil, createdAt: now),
                on: db)
            try await inventory.noteLowStock(
                of: item.variantID, sku: item.sku, taken: quantity, outbox: service.outbox, at: now, on: db)
        }
        if !short.all.isEmpty {
            throw Problem(.conflict, slug: "out-of-stock", title: "Out of stock",
                          detail: "Not enough stock for: " + short.all.map(\.detail).joined(separator: "; ") + ".",
                          errors: short.all)
        }
        return locations
    }
}
