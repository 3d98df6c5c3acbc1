import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes

/// A cart with its prices: what every cart answer shows.
struct PricedCart: Sendable {
    let cart: Cart
    let quote: CartQuote
}

/// What shoppers do with carts: create them, fold a guest cart into a customer's, change lines
/// and details, price them.
///
/// A change is planned from reads made before any write (the cart, its lines, the variant's
/// price and stock, the discount, shipping method and tax rate that price it), then written
/// in one short transaction whose first statement is conditional on the version that was
/// read. SQLite's single writer, and PostgreSQL's row lock on the cart, are held only for the
/// writes. When another change of the same cart lands in between, the change is planned
/// again from fresh reads; a cart that keeps changing under it is changed with everything
/// read under the writer instead.
struct CartService: Sendable {
    let database: any Database
    let store: CartStore
    let pricer: CartPricer
    let rates: ShippingRates
    let inventory: InventoryStore
    let clock: any WallClock
    let ids: any IDGenerator

    static let notFound = Problem.notFound("There is no such cart.")
    static let noSuchItem = Problem.notFound("There is no such item in this cart.")
    static let methodUnavailable = Problem(
        .conflict, slug: "shipping-method-unavailable", title: "Shipping method unavailable",
        detail: "This method does not ship this cart (currency, destination or weight); pick one of the cart's shipping options.")
    static let notOpen = Problem(
        .conflict, slug: "cart-not-open", title: "Cart not open",
        detail: "This cart has been checked out or merged; start a new cart.")
    static let stale = Problem(
        .preconditionFailed, slug: "precondition-failed", title: "Cart changed",
        detail: "The cart changed since the version given in If-Match; read it again.")

    /// Plans made from reads before the writer is taken, before the change is made with its
    /// reads under the writer.
    static let optimisticAttempts = 3

    /// A line to add, by variant id or SKU; its quantity adds to the line's if there is one.
    struct NewItem: Sendable {
        let variant: CartStore.VariantKey
        let quantity: Int64
    }

    enum Change: Sendable {
        case addItem(NewItem)
        case setQuantity(ID<CartItem>, Int64)
        case removeItem(ID<CartItem>)
        case setEmail(String?)
        case setShippingAddress(AddressFields)
        case setShippingMethod(ID<ShippingMethod>)
        /// A carrier quote listed among the cart's shipping options, for the cart's version.
        case setShippingRate(ID<CarrierQuote>)
        case setDiscountCode(String?)
    }

    // MARK: Reading

    /// The cart; `adding` reads the variant of a line about to be added in the same statement.
    func find(_ id: ID<Cart>, adding key: CartStore.VariantKey? = nil) async throws -> Cart? {
        try await store.find(id, adding: key, on: database)
    }

    func priced(_ cart: Cart) async throws -> PricedCart {
        try await priced(cart, on: database)
    }

    /// The table methods and carrier quotes that can ship the cart, each with its price for it.
    func shippingOptions(for cart: Cart) async throws -> [ShippingChoice] {
        let quote = try await priced(cart).quote
        return try await rates.options(for: cart, quote: quote)
    }

    private func priced(_ cart: Cart, on db: any SQLExecutor) async throws -> PricedCart {
        let items = try await store.items(asReadWith: cart, on: db)
        return PricedCart(cart: cart, quote: try await pricer.quote(cart, items: items, on: db))
    }

    // MARK: Changing

    /// Makes `change` to an open cart and answers it as it now is. `expectedVersion` (from
    /// If-Match) makes the change conditional.
    func change(_ cart: Cart, _ change: Change, expectedVersion: Int64?) async throws -> PricedCart {
        var current = cart
        for _ in 0..<Self.optimisticAttempts {
            try Self.checkChangeable(current, expectedVersion: expectedVersion)
            let items = try await store.items(asReadWith: current, on: database)
            let plan = try await plan(change, cart: current, items: items, on: database)
            let quote = try await checkedQuote(plan, for: change, on: database)
            let readVersion = current.version
            if let version = try await write(plan, ifAt: readVersion) {
                return answer(plan, version: version, quote: quote)
            }
            // Another change landed since the read: plan again from what it left.
            guard let fresh = try await store.find(current.id, on: database) else { throw Self.notFound }
            current = fresh
        }
        return try await database.transaction { db in
            guard let locked = try await store.findLocked(cart.id, on: db) else { throw Self.notFound }
            try Self.checkChangeable(locked, expectedVersion: expectedVersion)
            let items = try await store.items(of: locked, on: db)
            let plan = try await plan(change, cart: locked, items: items, on: db)
            let quote = try await checkedQuote(plan, for: change, on: db)
            guard let version = try await write(plan, ifAt: locked.version, on: db) else { throw Self.stale }
            return answer(plan, version: version, quote: quote)
        }
    }

    private static func checkChangeable(_ cart: Cart, expectedVersion: Int64?) throws {
        guard cart.status == .open else { throw notOpen }
        if let expectedVersion, expectedVersion != cart.version { throw stale }
    }

    /// The cart and lines as the change leaves them, and the write that makes them so.
    private struct Plan: Sendable {
        enum Write: Sendable {
            /// The cart's own fields.
            case fields
            case upsert(CartItem)
            case quantity(ID<CartItem>, Int64)
            case delete(ID<CartItem>)
        }

        var cart: Cart
        var items: [CartItem]
        let write: Write
    }

    private func plan(_ change: Change, cart: Cart, items: [CartItem], on db: any SQLExecutor) async throws -> Plan {
        var cart = cart
        cart.updatedAt = clock.now()
        switch change {
        case .addItem(let item):
            let line = try await newLine(item, cart: cart, items: items, on: db)
            let others = items.filter { $0.variantID != line.variantID }
            return Plan(cart: cart, items: (others + [line]).sorted { $0.id < $1.id }, write: .upsert(line))
        case .setQuantity(let id, let quantity):
            guard let index = items.firstIndex(where: { $0.id == id }) else { throw Self.noSuchItem }
            let line = items[index]
            try await checkAvailability(of: line.variantID, sku: line.sku, quantity: quantity, backorder: line.backorder, on: db)
            var changed = items
            changed[index].quantity = quantity
            return Plan(cart: cart, items: changed, write: .quantity(id, quantity))
        case .removeItem(let id):
            guard items.contains(where: { $0.id == id }) else { throw Self.noSuchItem }
            return Plan(cart: cart, items: items.filter { $0.id != id }, write: .delete(id))
        case .setEmail(let email):
            cart.email = email
        case .setShippingAddress(let address):
            cart.shippingAddress = address
        case .setShippingMethod(let method):
            cart.shippingMethodID = method
            cart.shippingRateID = nil
        case .setShippingRate(let rate):
            cart.shippingRateID = rate
            cart.shippingMethodID = nil
        case .setDiscountCode(let code):
            cart.discountCode = code
        }
        return Plan(cart: cart, items: items, write: .fields)
    }

    /// Prices the planned cart; a method or code the cart cannot have refuses the change.
    private func checkedQuote(_ plan: Plan, for change: Change, on db: any SQLExecutor) async throws -> CartQuote {
        let quote = try await pricer.quote(plan.cart, items: plan.items, on: db)
        switch change {
        case .setShippingMethod:
            guard quote.shippingMethod != nil else { throw Self.methodUnavailable }
        case .setShippingRate(let id):
            // Quoted for the cart as it was read (the version this change is conditional on).
            if let problem = quote.shippingRateProblem { throw problem }
            guard let rate = quote.shippingRate, rate.id == id else { throw ShippingRateProblems.unknown }
            guard rate.cartVersion == plan.cart.version else { throw ShippingRateProblems.otherVersion }
        case .setDiscountCode:
            if let refusal = quote.discountRefusal { throw refusal.problem }
        default:
            break
        }
        return quote
    }

    /// Writes a plan if the cart is still open at `version`: the new version, or nil.
    private func write(_ plan: Plan, ifAt version: Int64) async throws -> Int64? {
        switch plan.write {
        case .fields:
            // One statement: no transaction needed.
            return try await store.save(plan.cart, ifAt: version, on: database)
        case .upsert(let line):
            return try await store.bumpAndUpsert(cart: plan.cart.id, ifAt: version, line: line, at: plan.cart.updatedAt, in: database)
        case .quantity, .delete:
            break
        }
        return try await database.transaction { db in try await write(plan, ifAt: version, on: db) }
    }

    private func write(_ plan: Plan, ifAt version: Int64, on db: any SQLExecutor) async throws -> Int64? {
        let cart = plan.cart
        switch plan.write {
        case .fields:
            return try await store.save(cart, ifAt: version, on: db)
        case .upsert(let line):
            return try await store.bumpAndUpsert(cart: cart.id, ifAt: version, line: line, at: cart.updatedAt, on: db)
        case .quantity(let item, let quantity):
            guard let next = try await store.bump(cart.id, ifAt: version, at: cart.updatedAt, on: db) else { return nil }
            guard try await store.setQuantity(quantity, item: item, cart: cart.id, at: cart.updatedAt, on: db) else { throw Self.noSuchItem }
            return next
        case .delete(let item):
            guard let next = try await store.bump(cart.id, ifAt: version, at: cart.updatedAt, on: db) else { return nil }
            guard try await store.deleteItem(item, cart: cart.id, on: db) else { throw Self.noSuchItem }
            return next
        }
    }

    private func answer(_ plan: Plan, version: Int64, quote: CartQuote) -> PricedCart {
        var cart = plan.cart
        cart.version = version
        return PricedCart(cart: cart, quote: quote)
    }

    /// The line an added item makes: the variant's current title, SKU and price, its quantity
    /// added to what the cart already holds of it.
    private func newLine(_ item: NewItem, cart: Cart, items: [CartItem], on db: any SQLExecutor) async throws -> CartItem {
        let pointer = if case .id = item.variant { "/variant_id" } else { "/sku" }
        // Read with the cart when the route asked for it; a cart read again after a conflict
        // carries none, so price and stock are then read afresh.
        let variant = if let read = cart.variantAsRead, read.key == item.variant {
            read.variant
        } else {
            try await store.variant(item.variant, currency: cart.currency, on: db)
        }
        guard let variant, variant.forSale else {
            throw Problem.validation([.init(pointer: pointer, detail: "names no variant for sale")])
        }
        guard let price = variant.price else {
            throw Problem(.conflict, slug: "currency-mismatch", title: "No price in this currency",
                          detail: "This variant has no price in \(cart.currency.code), the cart's currency.")
        }
        let existing = items.first { $0.variantID == variant.id }
        if existing == nil, items.count >= CartStore.maximumLines {
            throw Problem.validation([.init(pointer: "/variant_id", detail: "a cart holds at most \(CartStore.maximumLines) lines")])
        }
        let total = (existing?.quantity ?? 0) + item.quantity
        guard total <= CartStore.maximumQuantity else {
            throw Problem.validation([.init(pointer: "/quantity", detail: "the line would exceed \(CartStore.maximumQuantity)")])
        }
        try Self.checkAvailability(of: variant.id, sku: variant.sku, quantity: total, available: variant.available, backorder: variant.backorder)
        return CartItem(
            id: existing?.id ?? ids.make(), variantID: variant.id, quantity: total, sku: variant.sku, title: variant.title,
            unitPrice: price, productID: variant.productID, weightGrams: variant.weightGrams, backorder: variant.backorder,
            currentPrice: price)
    }

    /// Refuses more than is available now. Advisory only: checkout reserves for real.
    private func checkAvailability(
        of variant: ID<Variant>, sku: String, quantity: Int64, backorder: Bool, on db: any SQLExecutor
    ) async throws {
        guard !backorder else { return }
        try Self.checkAvailability(
            of: variant, sku: sku, quantity: quantity, available: try await inventory.available(of: variant, on: db), backorder: backorder)
    }

    private static func checkAvailability(of variant: ID<Variant>, sku: String, quantity: Int64, available: Int64, backorder: Bool) throws {
        guard !backorder else { return }
        guard quantity <= available else {
            throw Problem(.conflict, slug: "out-of-stock", title: "Out of stock",
                          detail: "Only \(available) of \(sku) (variant \(variant)) are available; \(quantity) were asked for.",
                          errors: [.init(pointer: "/quantity", detail: "\(available) available")])
        }
    }
}
