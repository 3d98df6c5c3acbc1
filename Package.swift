// swift-tools-version: 6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// The generated client repeats the same `public import`s in every file it writes, and most
/// files use only some of them: each unused one is an `UnusedImportAccess` warning, about 120 in
/// all. The generator marks them `@diagnose(UnusedImportAccess, as: ignored)`, which compilers
/// from 6.4 understand; older ones cannot silence one warning group, so this target alone (its
/// only hand-written file is a comment) is compiled without warnings. Every other target keeps them.
#if compiler(<6.4)
let generatedClientSettings: [SwiftSetting] = [.unsafeFlags(["-suppress-warnings"])]
#else
let generatedClientSettings: [SwiftSetting] = []
#endif

let package = Package(
    name: "emporium",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "emporium", targets: ["emporium"]),
        .library(name: "Emporium", targets: ["Emporium"]),
        .library(name: "EmporiumCore", targets: ["EmporiumCore"]),
        .library(name: "EmporiumClient", targets: ["EmporiumClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-openapi-generator", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.13.4"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        // OTLP/HTTP only: the default traits add the gRPC exporter and its dependencies,
        // minutes of every cold build (docs/operations.md, Tracing).
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        .target(
            name: "EmporiumCore",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "EmporiumSQLiteSupport",
            dependencies: [.product(name: "SQLiteNIO", package: "sqlite-nio")]
        ),
        .target(
            name: "EmporiumStorage",
            dependencies: [
                "EmporiumCore",
                "EmporiumSQLiteSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "EmporiumClient",
            dependencies: [
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: generatedClientSettings,
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),
        .target(
            name: "Emporium",
            dependencies: [
                "EmporiumCore",
                "EmporiumStorage",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HummingbirdOTP", package: "hummingbird-auth"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Yams", package: "Yams"),
            ],
            resources: [
                .embedInCode("Platform/openapi.yaml"),
                // The back office's templates and style sheet, one line each (Admin/BackOffice.swift).
                .embedInCode("Admin/Assets/admin.css"),
                .embedInCode("Admin/Assets/icon.svg"),
                .embedInCode("Admin/Templates/admin_layout.mustache"),
                .embedInCode("Admin/Templates/admin_sign_in.mustache"),
                .embedInCode("Admin/Templates/admin_error.mustache"),
                .embedInCode("Admin/Templates/admin_dashboard.mustache"),
                .embedInCode("Admin/Templates/admin_orders.mustache"),
                .embedInCode("Admin/Templates/admin_order.mustache"),
                .embedInCode("Admin/Templates/admin_staff.mustache"),
                .embedInCode("Admin/Templates/admin_webhooks.mustache"),
                .embedInCode("Admin/Templates/admin_webhook.mustache"),
                .embedInCode("Admin/Templates/admin_webhook_created.mustache"),
                .embedInCode("Admin/Templates/admin_api_key_created.mustache"),
                .embedInCode("Admin/Templates/admin_apps.mustache"),
                .embedInCode("Admin/Templates/admin_app_created.mustache"),
                .embedInCode("Admin/Templates/admin_scope_fieldset.mustache"),
                .embedInCode("Admin/Templates/admin_jobs.mustache"),
                .embedInCode("Admin/Templates/admin_job.mustache"),
                .embedInCode("Admin/Templates/admin_tax_rates.mustache"),
                .embedInCode("Admin/Templates/admin_tax_rate.mustache"),
                .embedInCode("Admin/Templates/admin_shipping_methods.mustache"),
                .embedInCode("Admin/Templates/admin_shipping_method.mustache"),
                .embedInCode("Admin/Templates/admin_discounts.mustache"),
                .embedInCode("Admin/Templates/admin_discount.mustache"),
                .embedInCode("Admin/Templates/admin_catalog_products.mustache"),
                .embedInCode("Admin/Templates/admin_catalog_product.mustache"),
                .embedInCode("Admin/Templates/admin_catalog_archive.mustache"),
                .embedInCode("Admin/Templates/admin_catalog_variant.mustache"),
                .embedInCode("Admin/Templates/admin_catalog_categories.mustache"),
                .embedInCode("Admin/Templates/admin_catalog_category.mustache"),
                .embedInCode("Admin/Templates/admin_catalog_import.mustache"),
                .embedInCode("Admin/Templates/admin_inventory_levels.mustache"),
                .embedInCode("Admin/Templates/admin_inventory_variant.mustache"),
                .embedInCode("Admin/Templates/admin_customers.mustache"),
                .embedInCode("Admin/Templates/admin_customer.mustache"),
                .embedInCode("Admin/Templates/admin_audit_log.mustache"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "emporium",
            dependencies: [
                "Emporium",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EmporiumCoreTests",
            dependencies: ["EmporiumCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EmporiumTests",
            dependencies: [
                "Emporium",
                "EmporiumClient",
                "EmporiumCore",
                // Not imported: listed so that `swift test` builds the binary the process tests run.
                "emporium",
                "EmporiumStorage",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdOTP", package: "hummingbird-auth"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            exclude: ["Support/smtp_sink.py"],
            swiftSettings: swiftSettings
        ),
    ]
)
