import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/carts`: guests reach their cart with its secret in `X-Cart-Token`, customers with their
/// access token. Anyone else's cart is 404, like one that does not exist. API keys have no
/// carts (403). Each route decodes and checks its input, finds the caller's cart and hands the
/// work to `CartService`.
struct CartRoutes {
    static let tokenHeader = HTTPField.Name("X-Cart-Token")!

    let service: CartService
    let checkout: CheckoutService
    let providers: PaymentProviders
    let idempotency: Idempotency
    let authenticator: Authenticator

    func register(on routes: RouteRegistrar) {
        routes.on(.post, "/v1/carts", access: .anonymous) { request, context in
            try await create(request, context: context)
        }
        routes.on(.get, "/v1/carts/:id", access: .anonymous) { request, context in
            CartAnswer(try await service.priced(try await owned(request, context)))
        }
        routes.on(.post, "/v1/carts/:id/items", access: .anonymous) { request, context in
            // The body names the variant, which is read with the cart; a body that is refused
            // is answered only once the caller has been shown to own the cart, as on other routes.
            let item: Result<CartService.NewItem, any Error>
            do { item = .success(Self.item(try await request.decodeStrictJSON(as: ItemInput.self, context: context).value)) }
            catch { item = .failure(error) }
            let cart = try await owned(request, context, adding: try? item.get().variant)
            return try await change(cart, .addItem(try item.get()), request)
        }
        routes.on(.patch, "/v1/carts/:id/items/:item_id", access: .anonymous) { request, context in
            let cart = try await owned(request, context)
            let item: ID<CartItem> = try context.pathID("item_id", notFound: "There is no such item in this cart.")
            let quantity = try await request.decodeStrictJSON(as: QuantityInput.self, context: context).value.quantity ?? 0
            return try await change(cart, .setQuantity(item, quantity), request)
        }
        routes.on(.delete, "/v1/carts/:id/items/:item_id", access: .anonymous) { request, context in
            let cart = try await owned(request, context)
            let item: ID<CartItem> = try context.pathID("item_id", notFound: "There is no such item in this cart.")
            return try await change(cart, .removeItem(item), request)
        }
        routes.on(.put, "/v1/carts/:id/email", access: .anonymous) { request, context in
            let cart = try await owned(request, context)
            let input = try await request.decodeStrictJSON(as: EmailInput.self, context: context).value
            return try await change(cart, .setEmail(input.email.map(AccountRules.normalizedEmail)), request)
        }
        routes.on(.put, "/v1/carts/:id/shipping-address", access: .anonymous) { request, context in
            let cart = try await owned(request, context)
            let fields = try await request.decodeStrictJSON(as: AddressFields.self, context: context).value.normalized()
            return try await change(cart, .setShippingAddress(fields), request)
        }
        routes.on(.get, "/v1/carts/:id/shipping-options", access: .anonymous) { request, context in
            let cart = try await owned(request, context)
            let options = try await service.shippingOptions(for: cart).map(ShippingOption.init)
            return Page(options, limit: Int.max, id: \.id)
        }
        routes.on(.put, "/v1/carts/:id/shipping-method", access: .anonymous) { request, context in
            let cart = try await owned(request, context)
            let input = try await request.decodeStrictJSON(as: MethodInput.self, context: context).value
            if let rate = input.rateID {
                // A carrier quote: the server knows its price; the client only names it.
                guard let id = ID<CarrierQuote>(rate) else { throw ShippingRateProblems.unknown }
                return try await change(cart, .setShippingRate(id), request)
            }
            guard let id = input.shippingMethodID.flatMap(ID<ShippingMethod>.init) else { throw CartService.methodUnavailable }
            // The cart's own totals decide whether the method applies (the service refuses one
            // that cannot take it).
            return try await change(cart, .setShippingMethod(id), request)
        }
        routes.on(.put, "/v1/carts/:id/discount-code", access: .anonymous) { request, context in
            let cart = try await owned(request, context)
            let input = try await request.decodeStrictJSON(as: CodeInput.self, context: context).value
            return try await change(cart, .setDiscountCode(input.code.map(DiscountStore.normalized)), request)
        }
        routes.on(.delete, "/v1/carts/:id/discount-code", access: .anonymous) { request, context in
            try await change(try await owned(request, context), .setDiscountCode(nil), request)
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

    /// The cart the request names, read once for the whole request (with the variant of a line
    /// to add, when `adding` names one).
    private func owned(
        _ request: Request, _ context: AppRequestContext, adding key: CartStore.VariantKey? = nil
    ) async throws -> Cart {
        let id: ID<Cart> = try context.pathID(notFound: "There is no such cart.")
        let user = try await caller(request)
        guard let cart = try await service.find(id, adding: key), owns(cart, user: user, request: request) else {
            throw CartService.notFound
        }
        return cart
    }

    /// `If-Match: "vN"` makes the change conditional.
    private func change(_ cart: Cart, _ change: CartService.Change, _ request: Request) async throws -> CartAnswer {
        CartAnswer(try await service.change(cart, change, expectedVersion: ETag.precondition(request)))
    }

    // MARK: Input

    /// An item to add, its input checked (`ItemInput.check`).
    static func item(_ input: ItemInput) -> CartService.NewItem {
        CartService.NewItem(variant: input.variantID.map { .id($0) } ?? .sku(input.sku ?? ""), quantity: input.quantity ?? 0)
    }

    // MARK: Creating and merging

    private func create(_ request: Request, context: AppRequestContext) async throws -> CartAnswer {
        let input = try await request.decodeStrictJSON(as: CreateInput.self, context: context).value
        let mergeID = input.mergeCartID.flatMap(ID<Cart>.init)
        guard let currency = input.currency.flatMap(Currency.init(code:)) else { throw Problem.internalError }
        guard let user = try await caller(request) else {
            guard mergeID == nil else {
                throw Problem.validation([.init(pointer: "/merge_cart_id", detail: "only a signed-in customer can merge a cart")])
            }
            let (priced, secret) = try await service.createGuestCart(currency: currency)
            return CartAnswer(priced, status: .created, secret: secret)
        }
        var guest: Cart?
        if let mergeID {
            guard let found = try await service.find(mergeID), found.userID == nil, owns(found, user: user, request: request)
            else { throw Problem.notFound("There is no such guest cart (send its secret in X-Cart-Token).") }
            guard found.status == .open else { throw CartService.notOpen }
            guest = found
        }
        let (priced, created) = try await service.openCart(for: user, currency: currency, merging: guest)
        return CartAnswer(priced, status: created ? .created : .ok)
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
                cart, expectedVersion: expected, provider: provider, token: token,
                requestKey: Idempotency.requestKey(caller: caller, key: key))
        }
    }
}
