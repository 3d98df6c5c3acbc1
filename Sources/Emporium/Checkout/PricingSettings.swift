import EmporiumCore
import EmporiumStorage
import Foundation
import Synchronization

/// The shop's tax rates and shipping methods as of a settings generation, kept in memory so
/// that pricing a cart reads neither table.
///
/// The database keeps the generation (`settings_generation`, one row): triggers on
/// `tax_rates` and `shipping_methods` add one to it in the transaction of every change, so it
/// moves exactly when either table does, on every node at once. A cart is read together with
/// the generation (`CartStore.find`, same statement); when it differs from the copy held here,
/// the copy is read again first. A price is therefore never made from rates older than the
/// cart read, and a quiet shop reads the two tables once.
final class PricingSettings: Sendable {
    struct Snapshot: Sendable {
        let generation: Int64
        let taxRates: [TaxRateEntry]
        let shippingMethods: [ID<ShippingMethod>: ShippingMethod]

        func taxRate(country: String, region: String?) -> TaxRateEntry? {
            TaxRateEntry.best(in: taxRates, country: country, region: region)
        }
    }

    private let held = Mutex<Snapshot?>(nil)
    private let taxes: TaxRateStore
    private let shipping: ShippingMethodStore

    init(taxes: TaxRateStore, shipping: ShippingMethodStore) {
        self.taxes = taxes
        self.shipping = shipping
    }

    /// The settings as of `generation` (read with the cart on `db`), from memory when held.
    func snapshot(generation: Int64, on db: any SQLExecutor) async throws -> Snapshot {
        if let held = held.withLock({ $0 }), held.generation == generation { return held }
        // Read after the generation was seen, so at least as new as it; a newer generation
        // seen meanwhile by another request is never replaced by an older one.
        let loaded = Snapshot(
            generation: generation, taxRates: try await taxes.all(on: db),
            shippingMethods: Dictionary(try await shipping.all(on: db).map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first }))
        held.withLock { current in
            if (current?.generation ?? .min) <= generation { current = loaded }
        }
        return loaded
    }

    /// Migration 21: the generation and the triggers that move it. The PostgreSQL function keeps
    /// the schema it was made in (`SET search_path FROM CURRENT`), so a change made from a
    /// session with another search path still moves this shop's generation.
    static func schema(for dialect: SQLDialect) -> [SQL] {
        var statements: [SQL] = [
            "CREATE TABLE settings_generation (id INTEGER PRIMARY KEY CHECK (id = 1), generation BIGINT NOT NULL)",
            "INSERT INTO settings_generation (id, generation) VALUES (1, 0)",
        ]
        switch dialect {
        case .sqlite:
            for table in ["tax_rates", "shipping_methods"] {
                for event in ["INSERT", "UPDATE", "DELETE"] {
                    statements.append("""
                        CREATE TRIGGER \(unsafeRaw: table)_\(unsafeRaw: event.lowercased())_moves_settings
                        AFTER \(unsafeRaw: event) ON \(unsafeRaw: table)
                        BEGIN UPDATE settings_generation SET generation = generation + 1 WHERE id = 1; END
                        """)
                }
            }
        case .postgres:
            statements.append("""
                CREATE FUNCTION move_settings_generation() RETURNS trigger LANGUAGE plpgsql
                SET search_path FROM CURRENT AS
                'BEGIN UPDATE settings_generation SET generation = generation + 1 WHERE id = 1; RETURN NULL; END'
                """)
            for table in ["tax_rates", "shipping_methods"] {
                statements.append("""
                    CREATE TRIGGER \(unsafeRaw: table)_move_settings AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON \(unsafeRaw: table)
                    FOR EACH STATEMENT EXECUTE FUNCTION move_settings_generation()
                    """)
            }
        }
        return statements
    }
}
