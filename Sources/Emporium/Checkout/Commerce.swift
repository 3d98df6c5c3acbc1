import EmporiumCore
import EmporiumStorage
import Foundation
import Logging

/// The selling side assembled: shipping, tax, discounts, carts, checkout, payments and orders,
/// sharing one set of stores and one order service.
struct Commerce {
    let shippingRoutes: ShippingRoutes
    let taxRoutes: TaxRateRoutes
    let discountRoutes: DiscountRoutes
    let orderRoutes: OrderRoutes
    let adminOrderRoutes: AdminOrderRoutes
    let salesReport: SalesReportRoutes
    let paymentWebhookRoutes: PaymentWebhookRoutes
    let labelRoutes: LabelRoutes
    let makeCartRoutes: (Authenticator) -> CartRoutes
    let sweeper: ReservationSweeper
    let orderService: OrderService
    let orders: OrderStore
    let carts: CartStore
    let idempotency: Idempotency
    let providers: PaymentProviders

    init(
        configuration: AppConfiguration, dependencies: AppDependencies, database: any Database, cipher: FieldCipher,
        audit: AuditLog, inventory: InventoryStore, catalogCache: CatalogCache, jobs: JobStore, idempotency: Idempotency,
        metrics: AppMetrics, logger: Logger
    ) throws {
        let clock = dependencies.clock
        let ids = dependencies.ids
        // A provider the embedding program passes wins over the built-in one of its name.
        let providers = PaymentProviders(
            dependencies.paymentProviders + (configuration.testPaymentsEnabled ? [try Self.testProvider(configuration)] : [])
                + (try Self.stripeProvider(configuration, logger: logger).map { [$0] } ?? []))
        let shipping = ShippingMethodStore()
        let taxes = TaxRateStore()
        let discounts = DiscountStore(ids: ids)
        let carts = CartStore(cipher: cipher)
        let orders = OrderStore(cipher: cipher)
        let payments = PaymentStore()
        let carrierQuotes = CarrierQuoteStore()
        let carrier = try Self.carrier(configuration, logger: logger)
        let rates = ShippingRates(
            database: database, table: TableRates(database: database, store: shipping), carrier: carrier, quotes: carrierQuotes,
            parcels: ParcelStore(), metrics: metrics, clock: clock, ids: ids, logger: logger)
        let pricer = CartPricer(
            shipping: shipping, carrierQuotes: carrierQuotes, taxes: taxes, discounts: discounts,
            settings: PricingSettings(taxes: taxes, shipping: shipping), taxIncludedCurrencies: configuration.taxIncludedCurrencies,
            clock: clock)
        let service = OrderService(
            database: database, store: orders, payments: payments, carts: carts, inventory: inventory, discounts: discounts,
            outbox: Outbox(ids: ids),
            audit: audit, jobs: jobs, providers: providers, captureAutomatically: configuration.paymentCapture == .automatic,
            clock: clock, ids: ids, logger: logger)
        let timeout = configuration.reservationTimeout
        let checkout = CheckoutService(
            database: database, carts: carts, pricer: pricer, orders: orders, inventory: inventory, discounts: discounts,
            payments: payments, service: service,
            reservationTimeout: TimeInterval(timeout.components.seconds),
            clock: clock, ids: ids)
        orderService = service
        self.orders = orders
        self.carts = carts
        self.idempotency = idempotency
        self.providers = providers
        shippingRoutes = ShippingRoutes(database: database, store: shipping, audit: audit, clock: clock, ids: ids)
        taxRoutes = TaxRateRoutes(database: database, store: taxes, audit: audit, clock: clock, ids: ids)
        discountRoutes = DiscountRoutes(database: database, store: discounts, audit: audit, clock: clock, ids: ids)
        orderRoutes = OrderRoutes(service: service)
        let labels = carrier.map { carrier in
            ShippingLabels(
                database: database, store: ShippingLabelStore(), quotes: carrierQuotes, carrier: carrier, rates: rates,
                parcels: ParcelStore(), orders: orders, service: service, clock: clock, logger: logger)
        }
        labelRoutes = LabelRoutes(labels: labels)
        adminOrderRoutes = AdminOrderRoutes(
            database: database, service: service, idempotency: idempotency, audit: audit, catalogCache: catalogCache, labels: labels)
        salesReport = SalesReportRoutes(clock: clock)
        paymentWebhookRoutes = PaymentWebhookRoutes(webhooks: ProviderWebhooks(
            database: database, payments: payments, service: service,
            stripeSecrets: try Self.stripeWebhookSecrets(configuration), clock: clock, logger: logger))
        let cartService = CartService(
            database: database, store: carts, pricer: pricer, rates: rates, inventory: inventory, clock: clock, ids: ids)
        makeCartRoutes = { authenticator in
            CartRoutes(
                service: cartService, checkout: checkout, providers: providers, idempotency: idempotency,
                authenticator: authenticator)
        }
        // Sweep a few times per reservation period, at most every 30 seconds.
        sweeper = ReservationSweeper(
            database: database, orders: orders, service: service, clock: clock,
            interval: min(.seconds(30), timeout / 4), logger: logger)
    }

    private static func testProvider(_ configuration: AppConfiguration) throws -> TestPaymentProvider {
        guard let path = configuration.testPaymentsLedger else { return TestPaymentProvider() }
        return try TestPaymentProvider(ledgerPath: path)
    }

    /// The `stripe` provider, when a secret key file is configured.
    private static func stripeProvider(_ configuration: AppConfiguration, logger: Logger) throws -> StripeProvider? {
        guard let path = configuration.stripeSecretKeyFile else { return nil }
        guard let key = try secretLines(path, setting: "--stripe-secret-key-file").first else {
            throw PaymentSetupError(description: "the Stripe secret key file \(path) (--stripe-secret-key-file) is empty")
        }
        return StripeProvider(base: configuration.stripeAPIBase, secretKey: key, logger: logger)
    }

    /// The carrier adapter, when a carrier API base is configured; its key file is then required.
    private static func carrier(_ configuration: AppConfiguration, logger: Logger) throws -> Carrier? {
        guard let base = configuration.carrierAPIBase else { return nil }
        guard let path = configuration.carrierAPIKeyFile else {
            throw PaymentSetupError(description: "--carrier-api-base needs --carrier-api-key-file (the carrier API key)")
        }
        guard let key = try secretLines(path, setting: "--carrier-api-key-file").first else {
            throw PaymentSetupError(description: "the carrier API key file \(path) (--carrier-api-key-file) is empty")
        }
        let timeout = configuration.carrierTimeout
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        return Carrier(
            client: CarrierClient(base: base, apiKey: key, timeout: seconds, logger: logger), timeout: timeout,
            breaker: CircuitBreaker(
                threshold: configuration.carrierBreakerFailures,
                coolDown: TimeInterval(configuration.carrierBreakerCoolDown.components.seconds)))
    }

    private static func stripeWebhookSecrets(_ configuration: AppConfiguration) throws -> [String] {
        guard let path = configuration.stripeWebhookSecretFile else { return [] }
        let secrets = try secretLines(path, setting: "--stripe-webhook-secret-file")
        guard !secrets.isEmpty else {
            throw PaymentSetupError(description: "the Stripe webhook secret file \(path) (--stripe-webhook-secret-file) is empty")
        }
        return secrets
    }

    /// The non-empty lines of a secret file, trimmed.
    private static func secretLines(_ path: String, setting: String) throws -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw PaymentSetupError(description: "cannot read \(path) (\(setting))")
        }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// `reports` is where the sales report reads: the replica when there is one.
    func register(on registrar: RouteRegistrar, reports: any Database) {
        makeCartRoutes(registrar.authenticator).register(on: registrar)
        orderRoutes.register(on: registrar)
        adminOrderRoutes.register(on: registrar)
        shippingRoutes.register(on: registrar)
        taxRoutes.register(on: registrar)
        discountRoutes.register(on: registrar)
        salesReport.register(on: registrar, reading: reports)
        paymentWebhookRoutes.register(on: registrar)
        labelRoutes.register(on: registrar)
    }
}

struct PaymentSetupError: Error, CustomStringConvertible {
    let description: String
}
