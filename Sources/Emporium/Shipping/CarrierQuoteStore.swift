import EmporiumCore
import EmporiumStorage
import Foundation

/// A carrier's price for shipping one version of one cart, as Emporium keeps it: the id the
/// storefront chooses it by, and the amount checkout charges.
struct CarrierQuote: Sendable, Equatable {
    /// How long a quote holds when the carrier does not say.
    static let lifetime: TimeInterval = 30 * 60

    let id: ID<CarrierQuote>
    let cartID: ID<Cart>
    let cartVersion: Int64
    /// `Parcel.digest` of the cart when quoted.
    let parcelDigest: String
    let carrierRateID: String
    let service: String
    let name: String
    let amount: Int64
    let currency: Currency
    let estimatedDays: Int64?
    let expiresAt: Date
    let createdAt: Date
}

/// The `carrier_quotes` table: the only code that writes it. Quotes of one cart version are
/// the cache that spares the carrier a second call; the chosen one is kept as long as the
/// cart is.
struct CarrierQuoteStore: Sendable {
    func insert(_ quotes: [CarrierQuote], on db: any SQLExecutor) async throws {
        for quote in quotes {
            try await db.execute("""
                INSERT INTO carrier_quotes (id, cart_id, cart_version, parcel_digest, carrier_rate_id, service, name, amount, currency,
                                            estimated_days, expires_at, created_at)
                VALUES (\(quote.id), \(quote.cartID), \(quote.cartVersion), \(quote.parcelDigest), \(quote.carrierRateID),
                        \(quote.service), \(quote.name), \(quote.amount), \(quote.currency.code), \(quote.estimatedDays),
                        \(quote.expiresAt), \(quote.createdAt))
                """)
        }
    }

    /// Quotes of earlier versions of the cart, except the one it has chosen, are of no more use.
    func prune(cart: ID<Cart>, before version: Int64, keeping chosen: ID<CarrierQuote>?, on db: any SQLExecutor) async throws {
        try await db.execute("""
            DELETE FROM carrier_quotes WHERE cart_id = \(cart) AND cart_version < \(version) AND id <> \(chosen?.description ?? "")
            """)
    }

    /// The quotes made for this version of the cart that still hold at `now`.
    func quotes(cart: ID<Cart>, version: Int64, at now: Date, on db: any SQLExecutor) async throws -> [CarrierQuote] {
        try await db.query("""
            SELECT * FROM carrier_quotes WHERE cart_id = \(cart) AND cart_version = \(version) AND expires_at > \(now) ORDER BY amount, id
            """).map(Self.decode)
    }

    func find(_ id: ID<CarrierQuote>, on db: any SQLExecutor) async throws -> CarrierQuote? {
        try await db.queryFirst("SELECT * FROM carrier_quotes WHERE id = \(id)").map(Self.decode)
    }

    /// The carrier service of the quote a cart had chosen when it became an order.
    func chosenService(cart: ID<Cart>, on db: any SQLExecutor) async throws -> String? {
        try await db.queryFirst("""
            SELECT q.service FROM carts c JOIN carrier_quotes q ON q.id = c.shipping_rate_id WHERE c.id = \(cart)
            """)?.decode("service")
    }

    static func decode(_ row: SQLRow) throws -> CarrierQuote {
        let code: String = try row.decode("currency")
        guard let currency = Currency(code: code) else {
            throw DatabaseError.decoding(column: "currency", expected: "ISO 4217 code", found: code)
        }
        return CarrierQuote(
            id: try row.decode("id"), cartID: try row.decode("cart_id"), cartVersion: try row.decode("cart_version"),
            parcelDigest: try row.decode("parcel_digest"), carrierRateID: try row.decode("carrier_rate_id"),
            service: try row.decode("service"), name: try row.decode("name"), amount: try row.decode("amount"), currency: currency,
            estimatedDays: try row.decode("estimated_days"), expiresAt: try row.decode("expires_at"),
            createdAt: try row.decode("created_at"))
    }
}
