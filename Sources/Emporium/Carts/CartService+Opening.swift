import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes

/// Starting carts: a guest's, a customer's (at most one open), and a guest cart folded into
/// its new owner's at sign-in.
extension CartService {
    /// A new guest cart and the secret that reaches it (only its digest is kept).
    func createGuestCart(currency: Currency) async throws -> (PricedCart, secret: String) {
        let now = clock.now()
        let secret = SecretToken.make()
        let cart = Cart(
            id: ids.make(), secretHash: SecretToken.digest(secret), userID: nil, currency: currency, email: nil,
            shippingAddress: nil, shippingMethodID: nil, discountCode: nil, status: .open, version: 1,
            createdAt: now, updatedAt: now)
        try await store.insert(cart, on: database)
        // Answered from what was written: an empty cart has nothing to look up.
        return (PricedCart(cart: cart, quote: try await pricer.quote(cart, items: [], on: database)), secret)
    }

    /// The customer's open cart, made when they have none (`created`). A guest cart given in
    /// `merging` (open, checked by the caller) is folded into it, or becomes theirs when they
    /// have no cart yet.
    func openCart(for user: User, currency: Currency, merging guest: Cart?) async throws -> (PricedCart, created: Bool) {
        let now = clock.now()
        do {
            guard let guest else {
                // Most calls find the cart: a read, without the writer.
                if let existing = try await store.openCart(of: user.id, on: database) {
                    return (try await priced(existing), false)
                }
                let cart = Cart(
                    id: ids.make(), secretHash: nil, userID: user.id, currency: currency, email: user.email,
                    shippingAddress: nil, shippingMethodID: nil, discountCode: nil, status: .open, version: 1,
                    createdAt: now, updatedAt: now)
                try await store.insert(cart, on: database)
                return (PricedCart(cart: cart, quote: try await pricer.quote(cart, items: [], on: database)), true)
            }
            return try await database.transaction { db in
                guard var cart = try await store.openCart(of: user.id, on: db) else {
                    // No cart of their own yet: the guest cart becomes theirs.
                    var adopted = guest
                    adopted.userID = user.id
                    adopted.secretHash = nil
                    adopted.email = adopted.email ?? user.email
                    adopted.updatedAt = now
                    try await store.save(adopted, on: db)
                    return (try await reread(adopted.id, on: db), false)
                }
                try await merge(guest, into: &cart, at: now, on: db)
                return (try await reread(cart.id, on: db), false)
            }
        } catch DatabaseError.uniqueViolation {
            // Two first requests of one customer raced; the other made the cart.
            throw Problem(.conflict, slug: "cart-exists", title: "Cart exists", detail: "A cart was just created for you; read it with POST /v1/carts again.")
        }
    }

    private func reread(_ id: ID<Cart>, on db: any SQLExecutor) async throws -> PricedCart {
        guard let cart = try await store.find(id, on: db) else { throw Self.notFound }
        let items = try await store.items(asReadWith: cart, on: db)
        return PricedCart(cart: cart, quote: try await pricer.quote(cart, items: items, on: db))
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
}
