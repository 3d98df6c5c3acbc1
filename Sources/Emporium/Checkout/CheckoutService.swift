import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes

/// Turns a cart into an order (DESIGN §3: the one place that orchestrates cart, inventory,
/// pricing, payment, order and events).
///
/// The cart is read, checked and priced first, without the writer. Then one transaction marks
/// the cart converted (only if it is still the version that was priced), reserves stock,
/// numbers and writes the order and takes the discount use; a cart changed meanwhile is read
/// and priced again. Only after the transaction commits is the payment authorized, so no
/// database lock is held while the provider thinks. A decline cancels the order and gives
/// everything back in a second transaction.
struct CheckoutService: Sendable {
    let database: any Database
    let carts: CartStore
    let pricer: CartPricer
    let orders: OrderStore
    let inventory: InventoryStore
    let discounts: DiscountStore
    let payments: PaymentStore
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

    /// The order as written; a guest's with its access token, to be shown once.
    private typealias Placed = (order: Order, lines: [OrderLine], payment: Payment, accessToken: String?)

    /// A cart checked and priced for an order.
    private struct Priced: Sendable {
        let cart: Cart
        let items: [CartItem]
        let quote: CartQuote
        /// The table method's id (nil for a carrier quote) and the name the order keeps.
        let methodID: ID<ShippingMethod>?
        let methodName: String
        let address: AddressFields
        let email: String
    }

    /// Places the order and asks for the money; the answer is what the client gets (and what
    /// a retry with the same Idempotency-Key gets again, when it is final).
    ///
    /// `requestKey` links the order to the request: a retry after a crash or a timeout finds
    /// the order the first attempt made and resumes its payment with the same provider key,
    /// so the shopper gets that order — paid, pending or declined — and is never charged twice.
    func checkout(
        _ cart: Cart, expectedVersion: Int64?, provider: any PaymentProvider, token: String, requestKey: String
    ) async throws -> Idempotency.Stored {
        if let earlier = try await orders.order(checkoutKey: requestKey, cart: cart.id, on: database) {
            return try await resume(earlier, provider: provider, token: token)
        }
        let placed = try await place(cart, expectedVersion: expectedVersion, provider: provider.name, requestKey: requestKey)
        return try await pay(
            placed.order, lines: placed.lines, payment: placed.payment, provider: provider, token: token,
            accessToken: placed.accessToken)
    }

    /// Answers a checkout whose order an earlier attempt made. A guest's access token was made
    /// by that attempt and is kept only as a digest, so this answer cannot show it; the
    /// confirmation e-mail carries it.
    private func resume(_ order: Order, provider: any PaymentProvider, token: String) async throws -> Idempotency.Stored {
        guard let payment = try await payments.payment(of: order.id, on: database) else { throw OrderStore.notFound }
        let lines = try await orders.lines(of: order.id, on: database)
        switch payment.status {
        case .pending where order.status == .pending:
            return try await pay(order, lines: lines, payment: payment, provider: provider, token: token, accessToken: nil)
        case .failed:
            return Self.declined(order, code: payment.failureCode ?? "declined")
        default:
            return try Idempotency.Stored(status: .created, json: OrderResponse(order, lines: lines, payment: payment))
        }
    }

    private func pay(
        _ order: Order, lines: [OrderLine], payment: Payment, provider: any PaymentProvider, token: String,
        accessToken: String?
    ) async throws -> Idempotency.Stored {
        let outcome: AuthorizeOutcome
        do {
            outcome = try await provider.authorize(
                amount: Money(minorUnits: order.total, currency: order.currency), token: token,
                idempotencyKey: "authorize-\(payment.id)")
        } catch {
            switch error {
            case .timeout:
                // Not final: the payment may still go through. The retry resumes this order.
                return Idempotency.Stored(problem: Problem(
                    .gatewayTimeout, slug: "payment-timeout", title: "Payment not confirmed",
                    detail: "The payment provider did not answer in time. Order \(order.displayNumber) holds its stock for \(Int(reservationTimeout / 60)) minutes; repeat the request with the same Idempotency-Key to learn whether it was paid. If its payment is not confirmed in that time it is cancelled and the cart opens again.")
                ).provisional
            case .declined(let code), .rejected(let code):
                _ = try await database.transaction { db in
                    try await service.cancelUnpaid(order, reason: "payment_declined", failureCode: code, on: db)
                }
                return Self.declined(order, code: code)
            }
        }
        let reference: String
        switch outcome {
        case .authorized(let approved):
            reference = approved
        case .requiresAction(_, let clientSecret, let nextAction):
            // The customer acts next (3-D Secure); the provider's webhook or the reconcile job
            // records the outcome. Not stored: a retry with the key asks the provider again and
            // gets the order as it then is, and the client secret is nowhere at rest.
            var answer = OrderResponse(order, lines: lines, payment: payment)
            answer.paymentAction = OrderResponse.PaymentAction(clientSecret: clientSecret, nextAction: nextAction)
            if let accessToken { answer.accessToken = accessToken }
            return try Idempotency.Stored(status: .accepted, json: answer).provisional
        }
        let (final, settled) = try await service.authorized(order, payment: payment, reference: reference)
        let answer = OrderResponse(final, lines: lines, payment: settled)
        guard let accessToken else { return try Idempotency.Stored(status: .created, json: answer) }
        // Shown to this request only: a replay of the key gets the order without it, so the
        // token is nowhere at rest in clear.
        return try Idempotency.Stored(
            status: .created, kept: answer, showing: OrderResponse.CodingKeys.accessToken.rawValue, accessToken)
    }

    private static func declined(_ order: Order, code: String) -> Idempotency.Stored {
        Idempotency.Stored(problem: Problem(
            HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required"), slug: "payment-declined", title: "Payment declined",
            detail: "The payment was declined (\(code)). Nothing was charged and the cart is open again; check out with another means of payment and a new Idempotency-Key.",
            errors: [.init(pointer: "/payment/token", detail: code)]))
    }

    // MARK: Placing the order

    /// Checks and prices the cart from reads, then writes the order if the cart is still as it
    /// was read; read again when it changed meanwhile, and in the end checked under the writer.
    private func place(_ cart: Cart, expectedVersion: Int64?, provider: String, requestKey: String) async throws -> Placed {
        var current = cart
        for _ in 0..<CartService.optimisticAttempts {
            try Self.checkOpen(current, expectedVersion: expectedVersion)
            let priced = try await check(current, items: try await carts.items(asReadWith: current, on: database), on: database)
            let placed = try await database.transaction { db -> Placed? in
                // Converting the cart first serialises checkouts of one cart: the losers stop here.
                guard try await carts.convert(current.id, ifAt: current.version, at: clock.now(), on: db) else { return nil }
                return try await write(priced, provider: provider, requestKey: requestKey, on: db)
            }
            if let placed { return placed }
            guard let fresh = try await carts.find(current.id, on: database) else { throw CartService.notFound }
            current = fresh
        }
        return try await database.transaction { db in
            guard let locked = try await carts.findLocked(cart.id, on: db) else { throw CartService.notFound }
            try Self.checkOpen(locked, expectedVersion: expectedVersion)
            let priced = try await check(locked, items: try await carts.items(of: locked, on: db), on: db)
            guard try await carts.convert(locked.id, ifAt: locked.version, at: clock.now(), on: db) else { throw CartService.stale }
            return try await write(priced, provider: provider, requestKey: requestKey, on: db)
        }
    }

    private static func checkOpen(_ cart: Cart, expectedVersion: Int64?) throws {
        guard cart.status == .open else { throw CartService.notOpen }
        if let expectedVersion, expectedVersion != cart.version { throw CartService.stale }
    }

    /// Whether the cart can become an order, priced. Lines whose price moved since they were
    /// added are brought up to the catalog's and the checkout refused, so that the shopper
    /// sees the new total first.
    private func check(_ cart: Cart, items: [CartItem], on db: any SQLExecutor) async throws -> Priced {
        var missing = FieldErrors()
        if items.isEmpty { missing.add("/items", "the cart is empty") }
        if cart.email == nil { missing.add("/email", "set an e-mail address") }
        if cart.shippingAddress == nil { missing.add("/shipping_address", "set a shipping address") }
        if cart.shippingMethodID == nil, cart.shippingRateID == nil { missing.add("/shipping_method", "choose a shipping method") }
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
            try await database.transaction { db in
                for (item, price) in changes { try await carts.reprice(item, to: price, at: clock.now(), on: db) }
                try await carts.touch(cart.id, at: clock.now(), on: db)
            }
            let skus = items.filter { item in changes.contains { $0.0 == item.id } }.map(\.sku)
            throw Problem(.conflict, slug: "price-changed", title: "Prices changed",
                          detail: "Prices of \(skus.joined(separator: ", ")) changed since they were added; the cart shows the new ones. Review it and check out again.")
        }
        let quote = try await pricer.quote(cart, items: items, on: db)
        if let refusal = quote.discountRefusal { throw refusal.problem }
        // A carrier quote is charged at the amount the server kept for it, if it still holds.
        if let problem = quote.shippingRateProblem { throw problem }
        let method = quote.shippingMethod.map { (Optional($0.id), $0.name) } ?? quote.shippingRate.map { (nil, $0.name) }
        guard let method, let address = cart.shippingAddress, let email = cart.email else {
            throw Problem(.conflict, slug: "cart-incomplete", title: "Cart incomplete",
                          detail: "The chosen shipping method no longer applies to this cart; choose another.",
                          errors: [.init(pointer: "/shipping_method", detail: "choose a shipping method that ships this cart")])
        }
        return Priced(cart: cart, items: items, quote: quote, methodID: method.0, methodName: method.1, address: address, email: email)
    }

    /// The writes of a checkout, in the transaction that converted the cart: stock (in lock
    /// order), the order with its lines and payment, the payment's follow-up, the discount use
    /// and the event.
    private func write(_ priced: Priced, provider: String, requestKey: String, on db: any SQLExecutor) async throws -> Placed {
        let now = clock.now()
        let (cart, items, quote) = (priced.cart, priced.items, priced.quote)
        let number = try await orders.nextNumber(on: db)
        let orderID: ID<Order> = ids.make()
        let locations = try await reserve(items, order: "#\(number)", at: now, on: db)
        let order = Order(
            id: orderID, number: number, cartID: cart.id, userID: cart.userID, email: priced.email, currency: cart.currency,
            status: .pending, subtotal: quote.breakdown.subtotal, discount: quote.breakdown.discount,
            shipping: quote.breakdown.shipping, tax: quote.breakdown.tax, total: quote.breakdown.total,
            taxIncluded: quote.breakdown.taxIncluded, discountID: quote.discount?.id, discountCode: quote.discount?.code,
            shippingMethodID: priced.methodID, shippingMethodName: priced.methodName, shippingAddress: priced.address,
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
        // A guest has no account to find the order by: the order gets a secret of its own.
        let accessToken = cart.userID == nil ? SecretToken.make() : nil
        try await orders.insert(order, lines: lines, checkoutKey: requestKey, accessToken: accessToken, on: db)
        try await payments.insert(payment, at: now, on: db)
        try await service.followPayment(payment, on: db)
        if let discount = quote.discount {
            do {
                try await discounts.redeem(discount, order: orderID, customer: cart.userID?.description ?? priced.email, at: now, on: db)
            } catch let refusal as DiscountRefusal {
                throw refusal.problem
            }
        }
        try await service.event("order.created", order, on: db)
        return (order, lines, payment, accessToken)
    }

    /// Reserves every line's stock at one location; back-ordered variants reserve nothing when
    /// none is free. Out of stock refuses the whole checkout.
    private func reserve(_ items: [CartItem], order: String, at now: Date, on db: any SQLExecutor) async throws -> [ID<Variant>: ID<StockLocation>] {
        let requests = items.map {
            InventoryStore.StockRequest(variantID: $0.variantID, sku: $0.sku, quantity: $0.quantity, backorder: $0.backorder)
        }
        let (locations, shortages) = try await inventory.reserve(requests, reference: "order \(order)", at: now, on: db)
        guard shortages.isEmpty else {
            var short = FieldErrors()
            for shortage in shortages {
                let request = shortage.request
                short.add(
                    "/items/\(shortage.index)",
                    "\(request.sku) (variant \(request.variantID)): \(shortage.available) available, \(request.quantity) wanted")
            }
            throw Problem(.conflict, slug: "out-of-stock", title: "Out of stock",
                          detail: "Not enough stock for: " + short.all.map(\.detail).joined(separator: "; ") + ".",
                          errors: short.all)
        }
        return locations
    }
}
