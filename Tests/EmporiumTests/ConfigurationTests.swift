import Emporium
import Foundation
import Logging
import EmporiumStorage
import Testing

@Suite struct ConfigurationTests {
    @Test func defaultsServeSQLiteOnLoopback() throws {
        let configuration = try AppConfiguration(flags: [:], environment: [:])
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 8080)
        #expect(configuration.databaseURL == .sqliteFile(path: "emporium.sqlite"))
        #expect(configuration.maxBodyBytes == 1 << 20)
        #expect(configuration.logFormat == .text)
        #expect(configuration.logLevel == .info)
    }

    @Test func flagsWinOverEnvironmentWhichWinsOverDefaults() throws {
        let configuration = try AppConfiguration(
            flags: ["port": "9000"],
            environment: [
                "EMPORIUM_PORT": "7000", "EMPORIUM_HOST": "0.0.0.0", "EMPORIUM_LOG_FORMAT": "json",
                "EMPORIUM_DATABASE_URL": "postgres://shop:secret@db.internal:5433/shop?sslmode=require",
                "EMPORIUM_RATE_LIMIT": "0", "EMPORIUM_SHUTDOWN_GRACE": "5",
            ])
        #expect(configuration.port == 9000)
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.logFormat == .json)
        #expect(configuration.rateLimit == nil)
        #expect(configuration.shutdownGracePeriod == .seconds(5))
        guard case .postgres(let location) = configuration.databaseURL else {
            Issue.record("expected PostgreSQL")
            return
        }
        #expect(location.host == "db.internal" && location.port == 5433 && location.database == "shop")
        #expect(location.username == "shop" && location.password == "secret" && location.tls == .require)
    }

    @Test func corsOriginsAreAListOfOrigins() throws {
        let configuration = try AppConfiguration(
            flags: [:], environment: ["EMPORIUM_CORS_ORIGINS": "https://shop.example.com, http://localhost:3000"])
        #expect(configuration.corsOrigins == ["https://shop.example.com", "http://localhost:3000"])
        #expect(try AppConfiguration(flags: ["cors-origins": "*"], environment: [:]).corsOrigins == ["*"])
    }

    @Test func rateAndBurstCombine() throws {
        let configuration = try AppConfiguration(flags: ["rate-limit": "10", "rate-limit-burst": "15"], environment: [:])
        #expect(configuration.rateLimit == .init(requestsPerSecond: 10, burst: 15))
    }

    @Test(arguments: [
        ("port", "eighty", "--port (EMPORIUM_PORT)"), ("port", "70000", "0 to 65535"), ("port", "-1", "--port"),
        ("log-level", "loud", "--log-level (EMPORIUM_LOG_LEVEL)"), ("log-format", "xml", "text or json"),
        ("max-body-bytes", "0", "--max-body-bytes"), ("database-url", "mysql://x@y/z", "unsupported database URL scheme 'mysql'"),
        ("database-url", "", "not a database URL"), ("trust-forwarded-for", "maybe", "true or false"),
        ("host", "", "--host"), ("idle-timeout", "1.5", "--idle-timeout"),
        ("cors-origins", "https://shop.example.com/", "--cors-origins"), ("cors-origins", "shop.example.com", "--cors-origins"),
        ("cors-origins", "ftp://x.example", "--cors-origins"),
    ])
    func badValuesNameTheSettingAndWhatIsExpected(name: String, value: String, mentions: String) {
        #expect {
            try AppConfiguration(flags: [name: value], environment: [:])
        } throws: { error in
            (error as? ConfigurationError)?.description.contains(mentions) == true
        }
    }

    @Test func everySettingHasAFlagAVariableAndADefaultThatParses() throws {
        var names = Set<String>()
        for setting in ConfigurationSetting.all {
            #expect(names.insert(setting.name).inserted)
            #expect(setting.environmentVariable.hasPrefix("EMPORIUM_"))
            _ = try AppConfiguration(flags: [setting.name: setting.defaultValue], environment: [:])
        }
    }

    /// The default each setting documents (`--help`, the README's table) is the one a server
    /// without the setting runs with.
    @Test func theDocumentedDefaultIsTheDefault() throws {
        let unset = String(describing: try AppConfiguration(flags: [:], environment: [:]))
        for setting in ConfigurationSetting.all {
            let documented = String(describing: try AppConfiguration(flags: [setting.name: setting.defaultValue], environment: [:]))
            #expect(documented == unset, "--\(setting.name) \(setting.defaultValue)")
        }
    }
}

@Suite struct DatabaseURLTests {
    @Test(arguments: [
        ("sqlite://emporium.sqlite", DatabaseURL.sqliteFile(path: "emporium.sqlite")),
        ("sqlite://data/shop.sqlite", .sqliteFile(path: "data/shop.sqlite")),
        ("sqlite:///var/lib/emporium/shop.sqlite", .sqliteFile(path: "/var/lib/emporium/shop.sqlite")),
        ("sqlite::memory:", .sqliteMemory),
    ])
    func sqliteForms(text: String, expected: DatabaseURL) throws {
        #expect(try DatabaseURL(parsing: text) == expected)
    }

    @Test func postgresFormsAndDefaults() throws {
        guard case .postgres(let plain) = try DatabaseURL(parsing: "postgresql://app@localhost/shop") else {
            Issue.record("expected PostgreSQL")
            return
        }
        #expect(plain.port == 5432 && plain.password == nil && plain.tls == .prefer && plain.schema == nil)

        guard case .postgres(let encoded) = try DatabaseURL(parsing: "postgres://app:p%40ss%2Fw0rd@[::1]:6432/shop?schema=tenant_1&sslmode=disable") else {
            Issue.record("expected PostgreSQL")
            return
        }
        #expect(encoded.password == "p@ss/w0rd")
        #expect(encoded.host == "::1" && encoded.port == 6432)
        #expect(encoded.schema == "tenant_1" && encoded.tls == .disable)

        guard case .postgres(let socket) = try DatabaseURL(parsing: "postgres://app@/shop?host=/run/postgresql") else {
            Issue.record("expected PostgreSQL")
            return
        }
        #expect(socket.unixSocketPath == "/run/postgresql/.s.PGSQL.5432")
    }

    @Test func descriptionsNeverShowThePassword() throws {
        let url = try DatabaseURL(parsing: "postgres://app:hunter2-secret@db:5432/shop")
        #expect(!url.description.contains("hunter2"))
        #expect(url.description == "postgres://app@db:5432/shop")
    }

    @Test(arguments: [
        "", "emporium.sqlite", "sqlite://", "sqlite://dir/", "http://example.com", "postgres://localhost/shop",
        "postgres://app@/shop", "postgres://app@localhost", "postgres://app@localhost/", "postgres://app@localhost:99999/shop",
        "postgres://app@localhost/shop?sslmode=sometimes", "postgres://app@localhost/shop?schema=Bad-Name",
        "postgres://app@localhost/shop?schema=1abc", "sqlite://a?b",
    ])
    func unusableURLsAreRejectedWithAMessage(text: String) {
        #expect {
            try DatabaseURL(parsing: text)
        } throws: { error in
            !((error as? DatabaseURLError)?.description.isEmpty ?? true)
        }
    }
}

@Suite struct ReadmeTests {
    @Test func configurationTableListsEverySettingWithItsDefault() throws {
        let readme = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("README.md")
        let rows = try String(contentsOf: readme, encoding: .utf8).split(separator: "\n").filter { $0.hasPrefix("| `--") }
        #expect(rows.count == ConfigurationSetting.all.count)
        for setting in ConfigurationSetting.all {
            let defaultCell = setting.defaultValue.isEmpty ? "(empty)" : "`\(setting.defaultValue)`"
            let expected = "| `\(setting.flag)` | `\(setting.environmentVariable)` | \(defaultCell) |"
            #expect(rows.contains { $0.hasPrefix(expected) }, "README lacks \(expected)")
        }
    }
}
