import EmporiumCore
import EmporiumStorage
import Foundation

/// The `payment_provider_events` table: every event a provider sent us, once.
extension PaymentStore {
    enum ProviderEventState: Sendable, Equatable {
        /// First seen now.
        case new
        /// Seen before, but its processing did not finish (it failed, or is running elsewhere).
        case unfinished
        /// Seen and processed: nothing more to do.
        case processed
    }

    /// Records that the provider sent event `id`; says whether it was new, and whether an
    /// earlier copy was processed to the end.
    func recordProviderEvent(
        provider: String, id: String, type: String, payment: ID<Payment>?, at now: Date, on db: any SQLExecutor
    ) async throws -> ProviderEventState {
        if try await db.queryFirst("""
            INSERT INTO payment_provider_events (provider, event_id, type, payment_id, created_at, updated_at)
            VALUES (\(provider), \(id), \(type), \(payment), \(now), \(now))
            ON CONFLICT (provider, event_id) DO NOTHING RETURNING event_id
            """) != nil
        {
            return .new
        }
        let row = try await db.queryFirst("""
            SELECT processed_at FROM payment_provider_events WHERE provider = \(provider) AND event_id = \(id)
            """)
        let processed: Date? = try row?.decode("processed_at")
        return processed == nil ? .unfinished : .processed
    }

    func markProviderEventProcessed(provider: String, id: String, at now: Date, on db: any SQLExecutor) async throws {
        try await db.execute("""
            UPDATE payment_provider_events SET processed_at = \(now), updated_at = \(now)
            WHERE provider = \(provider) AND event_id = \(id) AND processed_at IS NULL
            """)
    }

    /// The payment a provider knows by `reference` (Stripe's PaymentIntent id).
    func payment(provider: String, reference: String, on db: any SQLExecutor) async throws -> Payment? {
        try await db.queryFirst("SELECT * FROM payments WHERE provider = \(provider) AND provider_reference = \(reference)")
            .map(Self.decodePayment)
    }
}
