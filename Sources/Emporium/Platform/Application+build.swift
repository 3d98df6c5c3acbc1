public import EmporiumCore
public import EmporiumStorage
import Foundation
public import Hummingbird
public import Logging
import NIOCore
import ServiceLifecycle

/// What the application is given rather than makes: time, ids, where logs go, and
/// optionally a database that is already open. The command line passes the live ones;
/// tests pass their own.
public struct AppDependencies: Sendable {
    public var clock: any WallClock
    public var ids: any IDGenerator
    public var logSink: any LogSink
    /// Use this database instead of opening `AppConfiguration.databaseURL`.
    public var database: (any Database)?
    /// Receives every route as it is registered.
    public var routeTable: RouteTable
    /// Sends e-mail; `nil` writes `.eml` files into `AppConfiguration.mailFolder`.
    public var mailer: (any Mailer)?
    /// Routes of the embedding program, added after Emporium's own and behind the same
    /// middleware.
    public var customRoutes: (@Sendable (RouteRegistrar) -> Void)?
    /// Payment providers besides the built-in `test` one (which `testPayments` controls).
    public var paymentProviders: [any PaymentProvider]

    public init(
        clock: any WallClock = SystemClock(),
        ids: (any IDGenerator)? = nil,
        logSink: any LogSink = StandardErrorSink(),
        database: (any Database)? = nil,
        routeTable: RouteTable = RouteTable(),
        mailer: (any Mailer)? = nil,
        customRoutes: (@Sendable (RouteRegistrar) -> Void)? = nil,
        paymentProviders: [any PaymentProvider] = []
    ) {
        self.clock = clock
        self.ids = ids ?? TimeOrderedIDGenerator(clock: clock)
        self.logSink = logSink
        self.database = database
        self.routeTable = routeTable
        self.mailer = mailer
        self.customRoutes = customRoutes
        self.paymentProviders = paymentProviders
    }
}

/// The logger every part of the application derives its own from.
public func makeLogger(_ configuration: AppConfiguration, sink: any LogSink) -> Logger {
    Logger(label: "emporium") { label in
        EmporiumLogHandler(label: label, format: configuration.logFormat, level: configuration.logLevel, sink: sink)
    }
}

/// Opens the configured database, failing with one clear `DatabaseError` when it cannot be
/// reached, before anything else starts.
public func openDatabase(_ configuration: AppConfiguration, logger: Logger) async throws(DatabaseError) -> any Database {
    switch configuration.databaseURL {
    case .sqliteFile, .sqliteMemory:
        return try await SQLiteStorage.open(
            configuration.databaseURL, readerCount: configuration.sqliteReaders, logger: logger)
    case .postgres(let location):
        let storage = try PostgresStorage(location, maximumConnections: configuration.postgresPoolSize, logger: logger)
        try await storage.checkReachable()
        return storage
    }
}

/// Assembles the whole service: database, migrations, middleware and routes. `emporium
/// serve` runs what this returns; the tests drive the same thing through Hummingbird's
/// test client.
public func buildApplication(
    _ configuration: AppConfiguration, dependencies: AppDependencies = AppDependencies()
) async throws -> some ApplicationProtocol {
    let logger = makeLogger(configuration, sink: dependencies.logSink)
    let database: any Database
    if let given = dependencies.database {
        database = given
    } else {
        database = try await openDatabase(configuration, logger: logger)
    }
    let document = try OpenAPIDocument.load()
    let metrics = AppMetrics()
    let routes = dependencies.routeTable

    let router = Router(context: AppRequestContext.self, options: .autoGenerateHeadEndpoints)
    // Outermost first. The problem middleware sits inside the ones that stamp headers and
    // count, so that they see every error already turned into its response.
    router.add(middleware: RequestContextMiddleware(
        bodyLimit: configuration.maxBodyBytes, trustForwardedFor: configuration.trustForwardedFor,
        logLevel: configuration.logLevel))
    router.add(middleware: SecurityHeadersMiddleware())
    if !configuration.corsOrigins.isEmpty {
        router.add(middleware: CORSMiddleware(origins: configuration.corsOrigins, routes: routes))
    }
    router.add(middleware: MetricsMiddleware(metrics: metrics))
    router.add(middleware: AccessLogMiddleware())
    router.add(middleware: ProblemMiddleware(routes: routes))
    router.add(middleware: RequestLimitsMiddleware(
        rateLimiter: configuration.rateLimit.map { RateLimiter(requestsPerSecond: $0.requestsPerSecond, burst: $0.burst) }))

    let accessTokens = await AccessTokens(
        signingKey: try SigningKeySource.load(configuration), clock: dependencies.clock, ids: dependencies.ids)
    let accountStore = AccountStore()
    let cipher = try EncryptionKeySource.load(configuration)
    // One hasher: making one hashes a decoy password at the configured cost.
    let hasher = PasswordHasher(cost: configuration.bcryptCost)
    let audit = AuditLog(clock: dependencies.clock, ids: dependencies.ids)
    let throttle = LoginThrottle(clock: dependencies.clock)
    let accounts = AccountService(
        database: database, accounts: accountStore, refreshTokens: RefreshTokenStore(), accessTokens: accessTokens,
        hasher: hasher, audit: audit, throttle: throttle,
        twoFactor: TwoFactor(cipher: cipher, clock: dependencies.clock),
        clock: dependencies.clock, ids: dependencies.ids)
    let registrar = RouteRegistrar(
        router: router, table: routes,
        authenticator: Authenticator(
            accessTokens: accessTokens, accounts: accountStore, apiKeys: APIKeyStore(), database: database,
            clock: dependencies.clock))
    PlatformRoutes(database: database, metrics: metrics, document: document).register(on: registrar)
    let passwordReset = PasswordReset(
        database: database, accounts: accountStore, hasher: hasher,
        mailer: dependencies.mailer
            ?? FileMailer(folder: configuration.mailFolder, clock: dependencies.clock, ids: dependencies.ids),
        audit: audit, throttle: throttle, clock: dependencies.clock, ids: dependencies.ids,
        resetURL: configuration.passwordResetURL)
    AccountRoutes(service: accounts, passwordReset: passwordReset).register(on: registrar)
    AdminAccountRoutes(
        database: database, accounts: accountStore, hasher: hasher, audit: audit, clock: dependencies.clock,
        ids: dependencies.ids
    ).register(on: registrar)
    APIKeyRoutes(
        database: database, store: APIKeyStore(), audit: audit, clock: dependencies.clock, ids: dependencies.ids
    ).register(on: registrar)
    AddressRoutes(
        database: database, store: AddressStore(cipher: cipher),
        clock: dependencies.clock, ids: dependencies.ids
    ).register(on: registrar)
    let catalogCache = CatalogCache()
    let catalogStore = CatalogStore()
    let inventoryStore = InventoryStore(ids: dependencies.ids)
    AdminCatalogRoutes(
        service: CatalogService(
            database: database, store: catalogStore, audit: audit, cache: catalogCache, clock: dependencies.clock,
            ids: dependencies.ids)
    ).register(on: registrar)
    StorefrontRoutes(
        database: database, store: catalogStore, inventory: inventoryStore, cache: catalogCache,
        maxAge: configuration.catalogMaxAge
    ).register(on: registrar)
    InventoryRoutes(
        database: database, store: inventoryStore, audit: audit, cache: catalogCache,
        idempotency: Idempotency(database: database, clock: dependencies.clock), clock: dependencies.clock,
        ids: dependencies.ids
    ).register(on: registrar)
    let commerce = Commerce(
        configuration: configuration, dependencies: dependencies, database: database, cipher: cipher, audit: audit,
        inventory: inventoryStore, catalogCache: catalogCache, logger: logger)
    commerce.register(on: registrar)
    dependencies.customRoutes?(registrar)

    let migrator = MigrationRunner(migrations: Migrations.all, clock: dependencies.clock, logger: logger)
    var app = Application(
        router: router,
        server: .http1(configuration: .init(idleTimeout: TimeAmount(configuration.idleTimeout))),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
        services: [database, CatalogInvalidationListener(database: database, cache: catalogCache, logger: logger), commerce.sweeper],
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? configuration.port
            let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
            logger.info("Emporium listening on http://\(host):\(port) with database \(database.displayName)")
        },
        // Hummingbird's own start-up line would repeat ours; its logger speaks only from
        // `notice` up. Request loggers derive from it and get the configured level back in
        // RequestContextMiddleware.
        logger: {
            var quieter = logger
            quieter.logLevel = max(configuration.logLevel, .notice)
            return quieter
        }()
    )
    // Runs once the database service is up and before the first connection is accepted.
    app.beforeServerStarts {
        try await migrator.migrate(database)
    }
    return app
}
