import Emporium
import EmporiumClient
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import OpenAPIRuntime
import Synchronization
import Testing

/// What a test can reach besides HTTP: the database itself, the captured log lines, the
/// routes, the clock.
struct TestApp: Sendable {
    let database: any Database
    let logs: CapturingLogSink
    let routes: RouteTable
    let clock: ManualClock
    let http: any TestClientProtocol
    /// Where the application's mailer writes `.eml` files.
    let mailFolder: String
    /// Background work, run on demand.
    let jobs: BackgroundControl

    /// The messages sent so far, oldest first, after running every due job (mail is sent by
    /// jobs).
    func sentMail() async throws -> [String] {
        try await jobs.drain()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: mailFolder)) ?? []
        return try names.sorted().map { try String(contentsOfFile: mailFolder + "/" + $0, encoding: .utf8) }
    }

    /// The generated client over the same test connection.
    var api: EmporiumClient.Client {
        Client(
            serverURL: URL(string: "http://emporium.test")!,
            configuration: .init(dateTranscoder: .iso8601WithFractionalSeconds),
            transport: TestClientTransport(client: http))
    }
}

/// Where tests put the routes they add with `customRoutes`: outside the document on purpose, so
/// only their problem documents are checked against it.
let customRoutePrefix = "/test/"

/// Runs `test` against a complete application on a fresh database, through Hummingbird's
/// in-process test client. Rate limiting is off unless the test turns it on. Every response is
/// checked against `openapi.yaml` (`ValidatingTestClient`).
@discardableResult
func withApp<Result: Sendable>(
    configure: (inout AppConfiguration) -> Void = { _ in },
    customRoutes: (@Sendable (RouteRegistrar) -> Void)? = nil,
    paymentProviders: [any PaymentProvider] = [],
    _ test: @escaping @Sendable (TestApp) async throws -> Result
) async throws -> Result {
    try await TestDatabase.withFresh { url in
        var configuration = TestDatabase.configuration(for: url)
        configuration.logLevel = .debug
        configure(&configuration)
        let mailFolder = configuration.mailFolder
        let logs = CapturingLogSink()
        let clock = ManualClock(Date())
        let routes = RouteTable()
        let background = BackgroundBox()
        let database = try await openDatabase(configuration, logger: makeLogger(configuration, sink: logs))
        let app = try await buildApplication(
            configuration,
            dependencies: AppDependencies(
                clock: clock, logSink: logs, database: database, routeTable: routes, customRoutes: customRoutes,
                paymentProviders: paymentProviders, onBackground: { background.set($0) }))
        do {
            let result = try await app.test(.router) { client in
                try await test(
                    TestApp(
                        database: database, logs: logs, routes: routes, clock: clock,
                        http: client.validatingResponses(exemptPrefixes: customRoutes == nil ? [] : [customRoutePrefix]),
                        mailFolder: mailFolder, jobs: try background.get()))
            }
            await database.close()
            try? FileManager.default.removeItem(atPath: mailFolder)
            return result
        } catch {
            await database.close()
            throw error
        }
    }
}

extension TestResponse {
    /// The body parsed as a JSON object.
    func jsonObject() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            throw TestFailure("response body is not a JSON object: \(String(buffer: body))")
        }
        return object
    }

    var text: String { String(buffer: body) }

    /// The JSON pointers of a validation problem's `errors`.
    func errorPointers() throws -> [String] {
        (try jsonObject()["errors"] as? [[String: Any]] ?? []).compactMap { $0["pointer"] as? String }
    }
}

/// Checks that `response` is a 400 validation problem naming `pointer`.
func expectInvalid(_ response: TestResponse, at pointer: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(response.status == .badRequest, sourceLocation: sourceLocation)
    #expect(try response.errorPointers().contains(pointer), "\(response.text)", sourceLocation: sourceLocation)
}

/// Carries the background handle out of the application builder.
final class BackgroundBox: Sendable {
    private let control = Mutex<BackgroundControl?>(nil)

    func set(_ value: BackgroundControl) { control.withLock { $0 = value } }

    func get() throws -> BackgroundControl {
        guard let value = control.withLock({ $0 }) else { throw TestFailure("the application gave no background handle") }
        return value
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension ByteBuffer {
    init(json: String) {
        self.init(string: json)
    }
}
