public import EmporiumCore
public import EmporiumStorage
import Foundation
public import Hummingbird
public import Logging
import NIOCore
public import ServiceLifecycle

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
    /// Payment providers besides the built-in `test` one (which `testPayments` controls); one
    /// named `test` replaces the built-in one.
    public var paymentProviders: [any PaymentProvider]
    /// Receives the handle on background work once the application is assembled.
    public var onBackground: (@Sendable (BackgroundControl) -> Void)?

    public init(
        clock: any WallClock = SystemClock(),
        ids: (any IDGenerator)? = nil,
        logSink: any LogSink = StandardErrorSink(),
        database: (any Database)? = nil,
        routeTable: RouteTable = RouteTable(),
        mailer: (any Mailer)? = nil,
        customRoutes: (@Sendable (RouteRegistrar) -> Void)? = nil,
        paymentProviders: [any PaymentProvider] = [],
        onBackground: (@Sendable (BackgroundControl) -> Void)? = nil
    ) {
        self.clock = clock
        self.ids = ids ?? TimeOrderedIDGenerator(clock: clock)
        self.logSink = logSink
        self.database = database
        self.routeTable = routeTable
        self.mailer = mailer
        self.customRoutes = customRoutes
        self.paymentProviders = paymentProviders
        self.onBackground = onBackground
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
        try await location.checkReachable(logger: logger)
        return try PostgresStorage(location, maximumConnections: configuration.postgresPoolSize, logger: logger)
    }
}

/// Assembles the whole service: database, migrations, middleware and routes. `emporium
/// serve` runs what this returns; the tests drive the same thing through Hummingbird's
/// test client.
public func buildApplication(
    _ configuration: AppConfiguration, dependencies: AppDependencies = AppDependencies(),
    drain: ShutdownDrain = ShutdownDrain()
) async throws -> some ApplicationProtocol {
    let logger = makeLogger(configuration, sink: dependencies.logSink)
    try KeyFileCheck.signingKey(configuration)
    try KeyFileCheck.encryptionKeys(configuration)
    let tls = try ServerTLS.configuration(configuration)
    let tracing = try AppTracing(configuration, logger: logger)
    let database: any Database
    let lockFile: SQLiteLockFile?
    if let given = dependencies.database {
        database = tracing.instrument(given)
        lockFile = nil
    } else {
        // One server per SQLite file; the lock is dropped when the application goes away.
        if case .sqliteFile(let path) = configuration.databaseURL {
            lockFile = try SQLiteLockFile.acquire(databasePath: path)
        } else {
            lockFile = nil
        }
        database = tracing.instrument(try await openDatabase(configuration, logger: logger))
    }
    let readDatabase = try await openReadDatabase(configuration, logger: logger)
    let reads = ReadRouting(primary: database, replica: readDatabase)
    let document = try OpenAPIDocument.load()
    let metrics = AppMetrics()
    let routes = dependencies.routeTable

    let router = Router(context: AppRequestContext.self, options: .autoGenerateHeadEndpoints)
    // Outermost first. The problem middleware sits inside the ones that stamp headers and
    // count, so that they see every error already turned into its response.
    router.add(middleware: RequestContextMiddleware(
        bodyLimit: configuration.maxBodyBytes, trustForwardedFor: configuration.trustForwardedFor,
        logLevel: configuration.logLevel))
    if let middleware = tracing.middleware { router.add(middleware: middleware) }
    router.add(middleware: SecurityHeadersMiddleware())
    if tls != nil { router.add(middleware: StrictTransportSecurityMiddleware()) }
    if !configuration.corsOrigins.isEmpty {
        router.add(middleware: CORSMiddleware(origins: configuration.corsOrigins, routes: routes))
    }
    router.add(middleware: MetricsMiddleware(metrics: metrics))
    router.add(middleware: AccessLogMiddleware())
    router.add(middleware: ProblemMiddleware(routes: routes))
    router.add(middleware: ShutdownDrainMiddleware(drain: drain))
    router.add(middleware: RequestLimitsMiddleware(
        rateLimiter: configuration.rateLimit.map { RateLimiter(requestsPerSecond: $0.requestsPerSecond, burst: $0.burst) }))

    let signingKey = try SigningKeySource.load(configuration)
    let accessTokens = await AccessTokens(signingKey: signingKey, clock: dependencies.clock, ids: dependencies.ids)
    let core = try Core(configuration, dependencies: dependencies, database: database, metrics: metrics, logger: logger)
    let cipher = core.cipher, audit = core.audit, accountStore = core.accountStore, hasher = core.hasher
    let accounts = AccountService(
        database: database, accounts: accountStore, refreshTokens: RefreshTokenStore(), accessTokens: accessTokens,
        hasher: hasher, audit: audit, outbox: Outbox(ids: dependencies.ids), throttle: core.throttle,
        twoFactor: TwoFactor(cipher: cipher, clock: dependencies.clock),
        clock: dependencies.clock, ids: dependencies.ids)
    let apps = OAuthService(
        database: database, store: OAuthStore(), accounts: accountStore, signIn: accounts,
        tokens: await AppTokens(signingKey: signingKey, clock: dependencies.clock, ids: dependencies.ids), audit: audit,
        clock: dependencies.clock, ids: dependencies.ids)
    let registrar = RouteRegistrar(
        router: router, table: routes,
        authenticator: Authenticator(
            accessTokens: accessTokens, accounts: accountStore, apiKeys: APIKeyStore(), database: database,
            clock: dependencies.clock, apps: apps))
    PlatformRoutes(database: database, metrics: metrics, document: document).register(on: registrar)
    AccountRoutes(service: accounts, passwordReset: core.passwordReset).register(on: registrar)
    let staff = StaffService(
        database: database, accounts: accountStore, hasher: hasher, audit: audit, clock: dependencies.clock, ids: dependencies.ids)
    AdminAccountRoutes(database: database, accounts: accountStore, audit: audit, staff: staff).register(on: registrar)
    let apiKeys = APIKeyService(
        database: database, store: APIKeyStore(), audit: audit, clock: dependencies.clock, ids: dependencies.ids)
    APIKeyRoutes(service: apiKeys).register(on: registrar)
    OAuthAppRoutes(service: apps).register(on: registrar)
    OAuthRoutes(service: apps, page: try ConsentPage()).register(on: registrar)
    AddressRoutes(
        database: database, store: AddressStore(cipher: cipher),
        clock: dependencies.clock, ids: dependencies.ids
    ).register(on: registrar)
    let catalogCache = core.catalogCache
    let catalogStore = CatalogStore()
    AdminCatalogRoutes(
        service: CatalogService(
            database: database, store: catalogStore, audit: audit, outbox: Outbox(ids: dependencies.ids), cache: catalogCache,
            clock: dependencies.clock,
            ids: dependencies.ids)
    ).register(on: registrar)
    StorefrontRoutes(
        catalog: StorefrontCatalog(reads: reads, store: catalogStore, inventory: core.inventory), cache: catalogCache,
        maxAge: configuration.catalogMaxAge
    ).register(on: registrar)
    InventoryRoutes(
        database: database, store: core.inventory, audit: audit, cache: catalogCache,
        idempotency: core.idempotency, clock: dependencies.clock,
        ids: dependencies.ids
    ).register(on: registrar)
    core.commerce.register(on: registrar, reports: reads.reports)
    core.webhooks.register(on: registrar)
    JobRoutes(database: database, store: core.jobs, audit: audit, clock: dependencies.clock).register(on: registrar)
    try BackOffice.register(
        on: registrar, core: core, accounts: accounts, staff: staff, apiKeys: apiKeys, apps: apps, reads: reads,
        configuration: configuration, dependencies: dependencies)
    dependencies.onBackground?(core.control)
    dependencies.customRoutes?(registrar)

    let migrator = MigrationRunner(migrations: Migrations.all, clock: dependencies.clock, logger: logger)
    let databaseService = DatabaseService(database: database)
    let readDatabaseService = readDatabase.map { DatabaseService(database: $0) }
    let clientLimits = ClientLimits(
        requestTimeout: configuration.requestTimeout.map { TimeAmount($0) },
        connectionsPerAddress: configuration.maxConnectionsPerAddress)
    let connectionCounts = ConnectionCounts()
    var app = Application(
        router: router,
        server: ServerTLS.server(
            .init(
                additionalChannelHandlers: [ClientLimitsHandler(limits: clientLimits, counts: connectionCounts, metrics: metrics, logger: logger)],
                idleTimeout: TimeAmount(configuration.idleTimeout)),
            tls: tls, configuration: configuration),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
        // The lock file first, so that it is the last to go at shutdown.
        services: (lockFile.map { [HeldLockFile(lock: $0)] } ?? []) + tracing.services
            + [
                databaseService,
            ]
            + (readDatabaseService.map { [$0] } ?? [])
            + [
                CatalogInvalidationListener(database: database, cache: catalogCache, logger: logger, gate: core.background.gate),
                core.sweeper,
            ]
            + (configuration.workers > 0 ? [tracing.scoped(core.background.runner)] : []),
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? configuration.port
            let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
            let scheme = tls == nil ? "http" : "https"
            lockFile?.record("listening on \(scheme)://\(host):\(port)")
            logger.info("Emporium listening on \(scheme)://\(host):\(port) with database \(database.displayName)")
            if let readDatabase { logger.info("storefront catalog reads and reports from \(readDatabase.displayName)") }
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
    let preparation = core.preparation
    app.beforeServerStarts {
        try await databaseService.waitUntilRunning()
        try await readDatabaseService?.waitUntilRunning()
        try await preparation.run(migrator: migrator)
    }
    return app
}

/// A process that runs only background work (`emporium worker`): the job runner and the
/// reservation sweeper on the configured database, after migrating it. Run what this returns
/// in a service group.
public func buildWorker(
    _ configuration: AppConfiguration, dependencies: AppDependencies = AppDependencies()
) async throws -> [any Service] {
    var configuration = configuration
    configuration.isWorker = true
    let logger = makeLogger(configuration, sink: dependencies.logSink)
    try KeyFileCheck.encryptionKeys(configuration)
    let tracing = try AppTracing(configuration, logger: logger)
    let database: any Database
    if let given = dependencies.database {
        database = tracing.instrument(given)
    } else {
        database = tracing.instrument(try await openDatabase(configuration, logger: logger))
    }
    let core = try Core(configuration, dependencies: dependencies, database: database, metrics: AppMetrics(), logger: logger)
    let migrator = MigrationRunner(migrations: Migrations.all, clock: dependencies.clock, logger: logger)
    dependencies.onBackground?(core.control)
    let databaseService = DatabaseService(database: database)
    return tracing.services + [
        databaseService,
        tracing.scoped(WorkerService(
            database: databaseService, preparation: core.preparation, runner: core.background.runner,
            sweeper: core.sweeper, migrator: migrator, logger: logger)),
    ]
}

/// The worker process's one service: prepare the database, then run jobs and sweeps until
/// shutdown.
private struct WorkerService: Service {
    let database: DatabaseService
    let preparation: Preparation
    let runner: JobRunner
    let sweeper: ReservationSweeper
    let migrator: MigrationRunner
    let logger: Logger

    func run() async throws {
        try await database.waitUntilRunning()
        try await preparation.run(migrator: migrator)
        logger.info("Emporium worker running \(runner.settings.concurrency) jobs at once on \(preparation.database.displayName)")
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await runner.run() }
            group.addTask { try await sweeper.run() }
        }
    }
}

/// Before the first request or job: migrate, then free what this node's previous process held.
struct Preparation: Sendable {
    let database: any Database
    let idempotency: Idempotency
    let background: Background
    let testPayments: Bool
    let logger: Logger

    /// Serving nodes hold idempotency claims; a worker holds none and must not free a server's.
    let holdsRequests: Bool
    /// Whether the node id is this node's alone, so that its previous process's jobs can be
    /// taken back at once.
    let freesOwnJobs: Bool

    func run(migrator: MigrationRunner) async throws {
        _ = try await migrate(database, with: migrator)
        try await background.recover(idempotency: holdsRequests ? idempotency : nil, freeJobs: freesOwnJobs, logger: logger)
        if testPayments {
            logger.warning("The test payment provider is on: tok_visa approves any order. Turn it off with --test-payments false for a real shop.")
        }
    }
}

/// What serving and working share: the stores and services behind both the routes and the
/// background work, built once per process.
struct Core {
    let database: any Database
    let configuration: AppConfiguration
    let cipher: FieldCipher
    let audit: AuditLog
    let accountStore: AccountStore
    let hasher: PasswordHasher
    let throttle: LoginThrottle
    let jobs: JobStore
    let idempotency: Idempotency
    let passwordReset: PasswordReset
    let catalogCache: CatalogCache
    let inventory: InventoryStore
    let commerce: Commerce
    let webhooks: Webhooks
    let background: Background
    let logger: Logger

    init(
        _ configuration: AppConfiguration, dependencies: AppDependencies, database: any Database, metrics: AppMetrics,
        logger: Logger
    ) throws {
        let clock = dependencies.clock, ids = dependencies.ids
        self.database = database
        self.configuration = configuration
        self.logger = logger
        cipher = try EncryptionKeySource.load(configuration)
        audit = AuditLog(clock: clock, ids: ids)
        accountStore = AccountStore()
        // One hasher: making one hashes a decoy password at the configured cost.
        hasher = PasswordHasher(cost: configuration.bcryptCost)
        throttle = LoginThrottle(clock: clock)
        jobs = JobStore(ids: ids)
        idempotency = Idempotency(database: database, clock: clock, owner: configuration.effectiveNodeID)
        let mail = try makeMailSender(configuration, dependencies: dependencies, metrics: metrics, logger: logger)
        passwordReset = PasswordReset(
            database: database, accounts: accountStore, refreshTokens: RefreshTokenStore(), hasher: hasher, jobs: jobs,
            cipher: cipher, mail: mail,
            audit: audit, throttle: throttle, clock: clock, ids: ids, resetURL: configuration.passwordResetURL)
        catalogCache = CatalogCache(metrics: metrics)
        inventory = InventoryStore(ids: ids)
        commerce = try Commerce(
            configuration: configuration, dependencies: dependencies, database: database, cipher: cipher, audit: audit,
            inventory: inventory, catalogCache: catalogCache, jobs: jobs, idempotency: idempotency, metrics: metrics, logger: logger)
        webhooks = Webhooks(
            database: database, cipher: cipher, audit: audit, jobs: jobs,
            settings: .init(
                allowPrivateAddresses: configuration.webhookAllowPrivateAddresses,
                disableAfter: TimeInterval(configuration.webhookDisableAfter.components.seconds),
                timeout: TimeInterval(configuration.webhookTimeout.components.seconds)),
            metrics: metrics, clock: clock, ids: ids, logger: logger)
        background = Background(
            configuration: configuration, database: database, jobs: jobs, commerce: commerce, webhooks: webhooks,
            passwordReset: passwordReset,
            notifications: OrderNotifications(
                database: database, orders: commerce.orders, sender: mail, orderURL: configuration.orderURL),
            metrics: metrics, clock: clock, logger: logger)
    }

    /// The reservation sweeper, held back until the database is ready.
    var sweeper: ReservationSweeper {
        var sweeper = commerce.sweeper
        sweeper.gate = background.gate
        return sweeper
    }

    var control: BackgroundControl {
        BackgroundControl(runner: background.runner, housekeeping: background.housekeeping, sweeper: commerce.sweeper)
    }

    var preparation: Preparation {
        Preparation(
            database: database, idempotency: idempotency, background: background,
            testPayments: configuration.testPaymentsEnabled, logger: logger, holdsRequests: !configuration.isWorker,
            freesOwnJobs: !configuration.isWorker || !configuration.nodeID.isEmpty)
    }
}
