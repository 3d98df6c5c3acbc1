import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/carts`: guests reach their cart with its secret in `X-Cart-Token`, customers with their
/// access token. Anyone else's cart is 404, like one that does not exist. API keys have no
/// carts (403).
struct CartRoutes {
    static let tokenHeader = HTTPField.Name("X-Cart-Token")!

    let database: any Database
    let store: CartStore
    let pricer: CartPricer
    let inventory: InventoryStore
    let checkout: CheckoutService
    let providers: PaymentProviders
    let idempotency: Idempotency
    let authenticator: Authenticator
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

    // MARK: Bodies

    func register(on routes: RouteRegistrar) {
        routes.on(.post, "/v1/carts", access: .anonymous) { request, context in
            try await create(request, context: context)
        }
        routes.on(.get, "/v1/carts/:id", access: .anonymous) { request, context in
            let cart = try await owned(request, context)
            return try await answer(cart, on: database)
        }
        routes.on(.post, "/v1/carts/:id/items", access: .anonymous) { request, context in
            let cart = try await owned(request, context)
            let item = try Self.validated(try await request.decodeStrictJSON(as: ItemInput.self, context: context).value)
            return try await change(cart, request) { cart, db in try await add(item, to: cart, on: db) }
        }
        routes.on(.patch, "/v1/carts/:id/items/:item_id", access: .anonymous) { request, context in
            let cart = try await owned(request, context)
            let item: ID<CartItem> = try context.pathID("item_id", notFound: "There is no such item in this cart.")
            let quantity = try Self.quantity(try await request.decodeStrictJSON(as: QuantityInput.self, context: context).value.quantity)
            return try await change(cart, request) { cart, db in
                guard let line = try await store.items(of: cart, on: db).first(where: { $0.id == item }) else { throw Self.noSuchItem }
                try await checkAvailability(of: line.variantID, sku: line.sku, quantity: quantity, backorder: line.backorder, on: db)
                _ = try await store.setQuantity(quantity, item: item, cart: cart.id, at: clock.now(), on: db)
            }
        }
        routes.on(.delete, "/v1/carts/:id/items/:item_id", access: .anonymous) { request, context in
            let cart = try await owned(request, context)
            let item: ID<CartItem> = try context.pathID("item_id", notFound: "There is no such item in this cart.")
            return try await change(cart, request) { cart, db in
                guard try await store.deleteItem(item, cart: cart.id, on: db) else { throw Self.noSuchItem }
            }
        }
        routes.on(.put, "/v1/carts/:id/email", access: .anonymous) { request, context in
            let cart = try await owned(request, context)
            let input = try await request.decodeStrictJSON(as: EmailInput.self, context: context).value
            var errors = FieldErrors()
            if let email = errors.required(input.email, "/email") { errors.add("/email", AccountRules.emailProblem(email)) }
            try errors.check()
            return try await change(cart, request) { cart, db in
                var cart = cart
                cart.email = input.email.map(AccountRules.normalizedEmail)
                try await save(cart, on: db)
            }
        }
        routes.on(.put, "/v1/carts/:id/shipping-address", access: .anonymous) { request, context in
            let cart = try await owned(request, context)
            let fields = try await request.decodeStrictJSON(as: AddressFields.self, context: context).value.normalized()
            let problems = fields.problems()
            guard problems.isEmpty else { throw Problem.validation(problems) }
            return try await change(cart, request) { cart, db in
                var cart = cart
                cart.shippingAddress = fields
                try await save(cart, on: db)
            }
        }
        routes.on(.get, "/v1/carts/:id/shipping-options", access: .anonymous) { request, context in
            let cart = try await owned(request, context)
            let quote = try await pricer.quote(cart, items: try await store.items(of: cart, on: database), on: database)
            let options = try await pricer.options(for: cart, quote: quote, on: database).map { method, amount in
                ShippingOption(id: method.id.description, name: method.name, amount: amount, currency: method.currency.code)
            }
            return Page(options, limit: Int.max, id: \.id)
        }
        routes.on(.put, "/v1/carts/:id/shipping-method", access: .anonymous) { request, context in
            let cart = try await owned(request, context)
            let input = try await request.decodeStrictJSON(as: MethodInput.self, context: context).value
            var errors = FieldErrors()
            let id = errors.required(input.shippingMethodID, "/shipping_method_id").flatMap(ID<ShippingMethod>.init)
            if input.shippingMethodID != nil, id == nil { errors.add("/shipping_method_id", "must be a shipping method id") }
            try errors.check()
            // The cart's own totals decide whether the method applies: a method that cannot take it
            // leaves the quote without one, and the change is rolled back.
            return try await change(cart, request, check: { quote in
                guard quote.shippingMethod != nil else { throw Self.methodUnavailable }
            }) { cart, db in
                guard let id, try await pricer.shipping.find(id, on: db) != nil else { throw Self.methodUnavailable }
                var cart = cart
                cart.shippingMethodID = id
                try await save(cart, on: db)
            }
        }
        routes.on(.put, "/v1/carts/:id/discount-code", access: .anonymous) { request, context in
            let cart = try await owned(request, context)
            let input = try await request.decodeStrictJSON(as: CodeInput.self, context: context).value
            var errors = FieldErrors()
            errors.text(input.code, "/code", maximum: 40)
            try errors.check()
            return try await change(cart, request, check: { quote in
                if let refusal = quote.discountRefusal { throw refusal.problem }
            }) { cart, db in
                var cart = cart
                cart.discountCode = input.code.map(DiscountStore.normalized)
                try await save(cart, on: db)
            }
        }
        routes.on(.delete, "/v1/carts/:id/discount-code", access: .anonymous) { request, context in
            try await change(try await owned(request, context), request) { cart, db in
                var cart = cart
                cart.discountCode = nil
                try await save(cart, on: db)
            }
        }
        routes.on(.post, "/v1/carts/:id/checkout", access: .anonymous) { request, context in
            try await checkOut(request, context: context)
        }
    }

    // MARK: Who owns a cart

    /// The signed-in person behind the request, if it carries a bearer token.
    private func caller(_ request: Request) async throws -> User? {
        guard request.headers[.authorization] != nil else { return nil }
        guard case .user(let user) = try await authenticator.authenticate(request, access: .signedIn) else {
            throw Problem.missingScope(nil)
        }
        return user
    }

    /// Whether the request may reach the cart: its customer, or whoever holds a guest cart's secret.
    private func owns(_ cart: Cart, user: User?, request: Request) -> Bool {
        if let owner = cart.userID { return owner == user?.id }
        guard let token = request.headers[Self.tokenHeader], let hash = cart.secretHash else { return false }
        return SecretToken.digest(token) == hash
    }

    private func owned(_ request: Request, _ context: AppRequestContext) async throws -> Cart {
        let id: ID<Cart> = try context.pathID(notFound: "There is no such cart.")
        let user = try await caller(request)
        guard let cart = try await store.find(id, on: database), owns(cart, user: user, request: request) else { throw Self.notFound }
        return cart
    }

    // MARK: Changing a cart

    /// Runs `body` on the caller's open cart in one transaction, moves the version on and
    /// answers the cart as it now is, read in the same transaction so that the answer always
    /// shows the change; `check` may refuse the priced result, which undoes the change.
    /// `If-Match: "vN"` makes the change conditional.
    private func change(
        _ owned: Cart, _ request: Request, check: (@Sendable (CartQuote) throws -> Void)? = nil,
        _ body: @Sendable @escaping (Cart, any SQLExecutor) async throws -> Void
    ) async throws -> CartAnswer {
        let expected = ETag.precondition(request)
        return try await database.transaction { db in
            guard let cart = try await store.claim(owned.id, expectedVersion: expected, at: clock.now(), on: db) else {
                throw try await store.find(owned.id, on: db)?.status == .open ? Self.stale : Self.notOpen
            }
            try await body(cart, db)
            return try await answer(cart, check: check, on: db)
        }
    }

    private func save(_ cart: Cart, on db: any SQLExecutor) async throws {
        var cart = cart
        cart.updatedAt = clock.now()
        try await store.save(cart, on: db)
    }

    private func answer(
        _ cart: Cart, status: HTTPResponse.Status = .ok, check: ((CartQuote) throws -> Void)? = nil, on db: any SQLExecutor
    ) async throws -> CartAnswer {
        guard let current = try await store.find(cart.id, on: db) else { throw Self.notFound }
        let quote = try await pricer.quote(current, items: try await store.items(of: current, on: db), on: db)
        try check?(quote)
        return CartAnswer(status: status, version: current.version, body: CartResponse(current, quote: quote))
    }

    static func quantity(_ quantity: Int64?) throws -> Int64 {
        var errors = FieldErrors()
        if let quantity = errors.required(quantity, "/quantity"), !(1...CartStore.maximumQuantity).contains(quantity) {
            errors.add("/quantity", "must be 1 to \(CartStore.maximumQuantity)")
        }
        try errors.check()
        return quantity ?? 0
    }

    /// An item to add, checked before any database work.
    struct ValidItem: Sendable {
        let input: ItemInput
        let quantity: Int64
    }

    static func validated(_ input: ItemInput) throws -> ValidItem {
        var errors = FieldErrors()
        if input.variantID == nil, input.sku == nil { errors.add("/variant_id", "name the variant by variant_id or sku") }
        if let text = input.variantID, ID<Variant>(text) == nil { errors.add("/variant_id", "must be a variant id") }
        try errors.check()
        return ValidItem(input: input, quantity: try quantity(input.quantity))
    }

    private func add(_ item: ValidItem, to cart: Cart, on db: any SQLExecutor) async throws {
        let input = item.input
        let quantity = item.quantity
        let selector: SQL = input.variantID.map { "v.id = \($0)" } ?? "v.sku = \(input.sku ?? "")"
        guard let row = try await db.queryFirst("""
            SELECT v.id, v.sku, v.title AS variant_title, v.backorder, p.title, p.status, pr.amount
            FROM variants v JOIN products p ON p.id = v.product_id
            LEFT JOIN prices pr ON pr.variant_id = v.id AND pr.currency = \(cart.currency.code)
            WHERE \(selector)
            """), try row.decode("status", as: String.self) == "active"
        else {
            throw Problem.validation([.init(pointer: input.variantID != nil ? "/variant_id" : "/sku", detail: "names no variant for sale")])
        }
        guard let price: Int64 = try row.decode("amount") else {
            throw Problem(.conflict, slug: "currency-mismatch", title: "No price in this currency",
                          detail: "This variant has no price in \(cart.currency.code), the cart's currency.")
        }
        let variant: ID<Variant> = try row.decode("id")
        let sku: String = try row.decode("sku")
        let existing = try await store.items(of: cart, on: db)
        let already = existing.first { $0.variantID == variant }?.quantity ?? 0
        if already == 0, existing.count >= CartStore.maximumLines {
            throw Problem.validation([.init(pointer: "/variant_id", detail: "a cart holds at most \(CartStore.maximumLines) lines")])
        }
        let total = already + quantity
        guard total <= CartStore.maximumQuantity else {
            throw Problem.validation([.init(pointer: "/quantity", detail: "the line would exceed \(CartStore.maximumQuantity)")])
        }
        try await checkAvailability(of: variant, sku: sku, quantity: total, backorder: try row.decode("backorder", as: String.self) == "allow", on: db)
        let productTitle: String = try row.decode("title")
        let variantTitle: String = try row.decode("variant_title")
        try await store.upsert(
            cart: cart.id, id: ids.make(), variant: variant, quantity: total, sku: sku,
            title: variantTitle.isEmpty ? productTitle : "\(productTitle) – \(variantTitle)", unitPrice: price,
            at: clock.now(), on: db)
    }

    /// Refuses more than is available now. Advisory only: checkout reserves for real.
    private func checkAvailability(of variant: ID<Variant>, sku: String, quantity: Int64, backorder: Bool, on db: any SQLExecutor) async throws {
        guard !backorder else { return }
        let available = try await inventory.available(of: variant, on: db)
        guard quantity <= available else {
            throw Problem(.conflict, slug: "out-of-stock", title: "Out of stock",
                          detail: "Only \(available) of \(sku) (variant \(variant)) are available; \(quantity) were asked for.",
                          errors: [.init(pointer: "/quantity", detail: "\(available) available")])
        }
    }

    // MARK: Creating and merging

    private func create(_ request: Request, context: AppRequestContext) async throws -> CartAnswer {
        let input = try await request.decodeStrictJSON(as: CreateInput.self, context: context).value
        var errors = FieldErrors()
        let currency = errors.currency(input.currency, "/currency")
        let mergeID = input.mergeCartID.flatMap(ID<Cart>.init)
        if input.mergeCartID != nil, mergeID == nil { errors.add("/merge_cart_id", "must be a cart id") }
        try errors.check()
        guard let currency else { throw Problem.internalError }
        let user = try await caller(request)
        let now = clock.now()
        guard let user else {
            guard mergeID == nil else {
                throw Problem.validation([.init(pointer: "/merge_cart_id", detail: "only a signed-in customer can merge a cart")])
            }
            let secret = SecretToken.make()
            let cart = Cart(
                id: ids.make(), secretHash: SecretToken.digest(secret), userID: nil, currency: currency, email: nil,
                shippingAddress: nil, shippingMethodID: nil, discountCode: nil, status: .open, version: 1,
                createdAt: now, updatedAt: now)
            try await store.insert(cart, on: database)
            // Answered from what was written: an empty cart has nothing to look up.
            let quote = try await pricer.quote(cart, items: [], on: database)
            return CartAnswer(status: .created, version: cart.version, body: CartResponse(cart, quote: quote, secret: secret))
        }
        var guest: Cart?
        if let mergeID {
            guard let found = try await store.find(mergeID, on: database), found.userID == nil,
                owns(found, user: user, request: request)
            else { throw Problem.notFound("There is no such guest cart (send its secret in X-Cart-Token).") }
            guard found.status == .open else { throw Self.notOpen }
            guest = found
        }
        do {
            return try await database.transaction { db in
                var created = false
                var cart: Cart
                if let existing = try await store.openCart(of: user.id, on: db) {
                    cart = existing
                } else if var adopted = guest {
                    // No cart of their own yet: the guest cart becomes theirs.
                    adopted.userID = user.id
                    adopted.secretHash = nil
                    adopted.email = adopted.email ?? user.email
                    adopted.updatedAt = now
                    try await store.save(adopted, on: db)
                    return try await answer(adopted, on: db)
                } else {
                    cart = Cart(
                        id: ids.make(), secretHash: nil, userID: user.id, currency: currency, email: user.email,
                        shippingAddress: nil, shippingMethodID: nil, discountCode: nil, status: .open, version: 1,
                        createdAt: now, updatedAt: now)
                    try await store.insert(cart, on: db)
                    created = true
                }
                if let guest {
                    try await merge(guest, into: &cart, at: now, on: db)
                }
                return try await answer(cart, status: created ? .created : .ok, on: db)
            }
        } catch DatabaseError.uniqueViolation {
            // Two first requests of one customer raced; the other made the cart.
            throw Problem(.conflict, slug: "cart-exists", title: "Cart exists", detail: "A cart was just created for you; read it with POST /v1/carts again.")
        }
    }

    /// Folds a guest cart into the customer's: quantities add up (to the line limit), and
    /// what the customer's cart lacks (address, method, code) comes from the guest cart.
    private func merge(_ guest: Cart, into cart: inout Cart, at now: Date, on db: any SQLExecutor) async throws {
        guard guest.currency == cart.currency else {
            throw Problem(.conflict, slug: "currency-mismatch", title: "Currencies differ",
                          detail: "The guest cart is in \(guest.currency.code) and yours in \(cart.currency.code); they cannot be merged.")
        }
        let mine = try await store.items(of: cart, on: db)
        for item in try await store.items(of: guest, on: db) {
            let quantity = min(CartStore.maximumQuantity, item.quantity + (mine.first { $0.variantID == item.variantID }?.quantity ?? 0))
            try await store.upsert(
                cart: cart.id, id: ids.make(), variant: item.variantID, quantity: quantity, sku: item.sku, title: item.title,
                unitPrice: item.unitPrice, at: now, on: db)
        }
        cart.shippingAddress = cart.shippingAddress ?? guest.shippingAddress
        cart.shippingMethodID = cart.shippingMethodID ?? guest.shippingMethodID
        cart.discountCode = cart.discountCode ?? guest.discountCode
        cart.updatedAt = now
        try await store.save(cart, on: db)
        var merged = guest
        merged.status = .merged
        merged.updatedAt = now
        try await store.save(merged, on: db)
    }

    // MARK: Checkout

    private func checkOut(_ request: Request, context: AppRequestContext) async throws -> Idempotency.Stored {
        let cart = try await owned(request, context)
        guard let key = try Idempotency.key(of: request) else {
            throw Problem.validation([.init(parameter: "Idempotency-Key", detail: "is required for checkout")])
        }
        let body = try await request.decodeStrictJSON(as: CheckoutService.Input.self, context: context)
        var errors = FieldErrors()
        let providerName = errors.required(body.value.payment?.provider, "/payment/provider")
        let provider = providerName.flatMap { providers[$0] }
        if providerName != nil, provider == nil {
            errors.add("/payment/provider", "must be one of: " + (providers.names.isEmpty ? "(none enabled)" : providers.names.joined(separator: ", ")))
        }
        errors.text(body.value.payment?.token, "/payment/token", maximum: 500)
        try errors.check()
        guard let provider, let token = body.value.payment?.token else { throw Problem.internalError }
        let expected = ETag.precondition(request)
        let path = "/v1/carts/\(cart.id)/checkout"
        // The key belongs to the cart's owner: a customer, or the guest cart itself.
        let caller = cart.userID.map { "user:\($0)" } ?? "cart:\(cart.id)"
        return try await idempotency.performInSteps(
            caller: caller, key: key, fingerprint: Idempotency.fingerprint(method: .post, path: path, body: body.data)
        ) {
            try await checkout.checkout(
                cart, expectedVersion: expected, provider: provider, token: token, path: path,
                requestKey: Idempotency.requestKey(caller: caller, key: key))
        }
    }
}
