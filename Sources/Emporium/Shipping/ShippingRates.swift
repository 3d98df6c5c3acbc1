import EmporiumCore
import EmporiumStorage
import Foundation
import Logging
import Metrics

/// A shipping option a cart may choose: a table method or a carrier quote, priced for it.
struct ShippingChoice: Sendable {
    enum Kind: String, Sendable {
        case table, carrier
    }

    let id: String
    let kind: Kind
    let name: String
    let amount: Int64
    let currency: Currency
    let estimatedDays: Int64?
    let expiresAt: Date?
}

/// The carrier as the shop uses it: the adapter, how long a call may take, and the breaker
/// that stops calling it while it keeps failing.
struct Carrier: Sendable {
    let client: CarrierClient
    let timeout: Duration
    let breaker: CircuitBreaker
}

/// The shipping options of a cart: the table rates always, and, when a carrier is configured,
/// its quotes for the cart's parcel.
///
/// Carrier quotes are kept per cart version in the database (every node shares them), so the
/// same cart version never calls the carrier twice and any change to the cart asks again. A
/// call takes at most the carrier time-out; a carrier that does not answer in time, fails, or
/// whose breaker is open adds nothing, and the table rates remain: listing options never
/// waits on a carrier longer than the time-out.
struct ShippingRates: Sendable {
    let database: any Database
    let table: TableRates
    let carrier: Carrier?
    let quotes: CarrierQuoteStore
    let parcels: ParcelStore
    let metrics: AppMetrics
    let clock: any WallClock
    let ids: any IDGenerator
    let logger: Logger

    func options(for cart: Cart, quote: CartQuote) async throws -> [ShippingChoice] {
        let request = RateRequest(
            cart: cart, weightGrams: quote.weightGrams, discountedSubtotal: quote.breakdown.subtotal - quote.breakdown.discount,
            parcel: nil)
        let tables = try await table.rates(for: request).compactMap { offer -> ShippingChoice? in
            guard case .table(let method) = offer.source else { return nil }
            return ShippingChoice(
                id: method.id.description, kind: .table, name: offer.name, amount: offer.amount, currency: offer.currency,
                estimatedDays: nil, expiresAt: nil)
        }
        guard let carrier, let address = cart.shippingAddress, !quote.items.isEmpty else { return tables }
        let quoted = try await carrierQuotes(for: cart, items: quote.items, to: address, request: request, carrier: carrier)
        return tables + quoted.map { quote in
            ShippingChoice(
                id: quote.id.description, kind: .carrier, name: quote.name, amount: quote.amount, currency: quote.currency,
                estimatedDays: quote.estimatedDays, expiresAt: quote.expiresAt)
        }
    }

    /// This cart version's quotes: kept ones, else the carrier's answer now, else none.
    private func carrierQuotes(
        for cart: Cart, items: [CartItem], to address: AddressFields, request: RateRequest, carrier: Carrier
    ) async throws -> [CarrierQuote] {
        let now = clock.now()
        let kept = try await quotes.quotes(cart: cart.id, version: cart.version, at: now, on: database)
        if !kept.isEmpty {
            metrics.counter("emporium_carrier_quote_cache_total", [("result", "hit")]).increment()
            return kept
        }
        metrics.counter("emporium_carrier_quote_cache_total", [("result", "miss")]).increment()
        // The parcel before the breaker: a half-open breaker's trial must end in `measure`,
        // and a read that failed between the two would leave the trial running for good.
        let parcel = try await parcels.parcel(of: items.map { ($0.variantID, $0.quantity) }, to: address, on: database)
        guard carrier.breaker.allows(at: now) else {
            metrics.counter("emporium_carrier_calls_total", [("call", "rates"), ("outcome", "short_circuited")]).increment()
            return []
        }
        let priced = RateRequest(
            cart: cart, weightGrams: request.weightGrams, discountedSubtotal: request.discountedSubtotal, parcel: parcel)
        let offers: [RateOffer]
        do {
            offers = try await measure("rates", carrier: carrier) {
                try await withTimeout(carrier.timeout) { try await carrier.client.rates(for: priced) }
            }
        } catch {
            logger.notice("Carrier rates unavailable; offering table rates only", metadata: ["cart": "\(cart.id)", "error": "\(error)"])
            return []
        }
        let digest = Parcel.digest(items: items, destination: address)
        let made = offers.compactMap { offer -> CarrierQuote? in
            guard case .carrier(let rateID, let service, let expiresAt) = offer.source else { return nil }
            let latest = now.addingTimeInterval(CarrierQuote.lifetime)
            return CarrierQuote(
                id: ids.make(), cartID: cart.id, cartVersion: cart.version, parcelDigest: digest, carrierRateID: rateID,
                service: service, name: offer.name, amount: offer.amount, currency: offer.currency,
                estimatedDays: offer.estimatedDays, expiresAt: min(expiresAt ?? latest, latest), createdAt: now)
        }.filter { $0.expiresAt > now }.sorted { ($0.amount, $0.id) < ($1.amount, $1.id) }
        return try await database.transaction { db in
            // Another request for this cart version may have stored its answer meanwhile:
            // keep one set of quotes per version. Under PostgreSQL's read committed both could
            // see none and both insert, so the check and the insert are serialized per cart.
            if db.dialect == .postgres {
                _ = try await db.query("SELECT pg_advisory_xact_lock(hashtext(\(cart.id.description)))")
            }
            let stored = try await quotes.quotes(cart: cart.id, version: cart.version, at: now, on: db)
            guard stored.isEmpty else { return stored }
            try await quotes.prune(cart: cart.id, before: cart.version, keeping: cart.shippingRateID, on: db)
            try await quotes.insert(made, on: db)
            return made
        }
    }

    /// Runs one carrier call: counts its outcome, times it and tells the breaker.
    func measure<Result: Sendable>(
        _ call: String, carrier: Carrier, _ operation: () async throws -> Result
    ) async throws -> Result {
        let started = ContinuousClock.now
        func record(_ outcome: String) {
            let elapsed = ContinuousClock.now - started
            metrics.counter("emporium_carrier_calls_total", [("call", call), ("outcome", outcome)]).increment()
            metrics.timer("emporium_carrier_call_duration_seconds", [("call", call)])
                .recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        }
        do {
            let result = try await operation()
            record("ok")
            carrier.breaker.succeeded()
            return result
        } catch {
            // Every way out tells the breaker, so a half-open trial never stays open-ended.
            let failure = error as? CarrierFailure ?? (error is TimeoutError ? .timeout : .unavailable("\(error)"))
            record(failure.outcome)
            // A refusal is about this request, not the carrier's health.
            if case .refused = failure { carrier.breaker.succeeded() } else { carrier.breaker.failed(at: clock.now()) }
            throw failure
        }
    }
}
