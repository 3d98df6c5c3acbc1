import Emporium
import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

/// Tracing against a local OTLP/HTTP receiver: a checkout's request, statements and payment
/// call form one trace that continues the caller's `traceparent`, spans carry no values of the
/// request, log lines carry trace and request ids, and slow statements are logged by name.
@Suite struct TracingTests {
    static let callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let callerSpan = "00f067aa0ba902b7"

    @Test func oneCheckoutIsOneTraceThatContinuesTheCallersTraceparent() async throws {
        try await OTLPReceiver.run { receiver in
            try await StripeDouble.run { double in
                let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tracing-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: folder) }
                let keyFile = folder.appendingPathComponent("secret-key").path
                try "\(StripeDouble.secretKey)\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
                try await withApp(configure: { configuration in
                    configuration.otelEndpoint = receiver.url
                    configuration.otelServiceName = "emporium-tracing-test"
                    configuration.testPayments = false
                    configuration.stripeSecretKeyFile = keyFile
                    configuration.stripeAPIBase = double.url
                }) { app in
                    let fixture = try await CommerceFixture(app)
                    let cart = try await app.readyCart(fixture, quantity: 2, email: "traced.shopper@example.com")
                    var headers = HTTPFields()
                    headers[HTTPField.Name("Idempotency-Key")!] = UUID().uuidString
                    headers[HTTPField.Name("traceparent")!] = "00-\(Self.callerTrace)-\(Self.callerSpan)-01"
                    let placed = try await app.cart(
                        cart, .post, "/checkout", json: #"{"payment":{"provider":"stripe","token":"pm_card_visa"}}"#,
                        headers: headers)
                    #expect(placed.status == .created, "\(placed.text)")

                    // The batch processor sends within about a second.
                    let spans = try await receiver.waitForSpans(timeout: .seconds(15)) { spans in
                        spans.contains { $0.traceID == Self.callerTrace && $0.kind == 2 && $0.name.hasPrefix("POST") }
                            && spans.contains { $0.traceID == Self.callerTrace && $0.name.hasPrefix("POST stripe") }
                    }
                    let trace = spans.filter { $0.traceID == Self.callerTrace }
                    let server = try #require(trace.first { $0.kind == 2 })
                    #expect(server.parentSpanID == Self.callerSpan, "the request continues the caller's span")
                    #expect(server.name.contains("/v1/carts/"), "\(server.name)")
                    #expect(server.attributes["http.response.status_code"] == "201")

                    // Every span of the trace hangs off the request (or off a span under it).
                    let ids = Set(trace.map(\.spanID))
                    for span in trace where span.spanID != server.spanID {
                        #expect(ids.contains(span.parentSpanID ?? ""), "\(span.name) has no parent in the trace")
                    }
                    var statements: [ReceivedSpan] = []
                    for span in trace where span.attributes["db.system"] != nil { statements.append(span) }
                    #expect(statements.count >= 3, "\(trace.map(\.name))")
                    #expect(statements.allSatisfy { $0.parentSpanID == server.spanID && $0.kind == 3 })
                    #expect(statements.contains { $0.name.hasPrefix("INSERT orders") }, "\(statements.map(\.name))")
                    let system = TestDatabase.dialect == .postgres ? "postgresql" : "sqlite"
                    #expect(statements.allSatisfy { $0.attributes["db.system"] == system })
                    let payment = try #require(trace.first { $0.name.hasPrefix("POST stripe") })
                    #expect(payment.parentSpanID == server.spanID && payment.kind == 3)
                    #expect(payment.attributes["http.response.status_code"] == "200")

                    // Nothing of what the shopper sent appears in any span, in this trace or the
                    // cart's earlier ones.
                    for span in spans {
                        for text in [span.name] + span.attributes.keys + span.attributes.values {
                            for secret in ["traced.shopper", "example.com", "Unter den Linden", "pm_card_visa", "Lovelace"] {
                                #expect(!text.contains(secret), "span \(span.name) carries '\(text)'")
                            }
                        }
                    }
                    #expect(receiver.serviceNames.contains("emporium-tracing-test"))

                    // The request's log lines name the trace and the request.
                    let lines = app.logs.lines.filter { $0.contains("trace_id=\(Self.callerTrace)") }
                    #expect(lines.contains { $0.contains(" request ") || $0.contains("INFO request") }, "\(lines)")
                    #expect(lines.allSatisfy { $0.contains("request_id=") && $0.contains("span_id=") })
                }
            }
        }
    }

    @Test func slowStatementsAreLoggedByNameWithoutValues() async throws {
        try await withApp(configure: { $0.slowQueryThreshold = .nanoseconds(1) }) { app in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[HTTPField.Name("X-Request-ID")!] = "slow-query-probe"
            let response = try await app.http.execute(
                uri: "/v1/auth/register", method: .post, headers: headers,
                body: ByteBuffer(string: #"{"email":"slowpoke@example.com","password":"correct horse battery","name":"Slow Poke"}"#))
            #expect(response.status == .created, "\(String(buffer: response.body))")
            let slow = app.logs.lines.filter { $0.contains("slow query") }
            #expect(!slow.isEmpty)
            let ofRequest = slow.filter { $0.contains("request_id=slow-query-probe") }
            #expect(ofRequest.contains { $0.contains("statement=\"INSERT ") || $0.contains("statement=INSERT") }, "\(ofRequest)")
            #expect(ofRequest.allSatisfy { $0.contains("duration_ms=") && $0.contains("db_system=") })
            #expect(slow.allSatisfy { !$0.contains("slowpoke") && !$0.contains("Slow Poke") })
        }
    }

    @Test func theSettingsParse() throws {
        let configuration = try AppConfiguration(
            flags: ["otel-endpoint": "http://127.0.0.1:4318", "slow-query-threshold": "0.5", "otel-service-name": "shop-eu"],
            environment: [:])
        #expect(configuration.otelEndpoint == "http://127.0.0.1:4318")
        #expect(configuration.slowQueryThreshold == .microseconds(500))
        #expect(configuration.otelServiceName == "shop-eu")
        let defaults = try AppConfiguration(flags: [:], environment: [:])
        #expect(defaults.otelEndpoint == nil && defaults.slowQueryThreshold == .milliseconds(200))
        #expect(try AppConfiguration(flags: ["slow-query-threshold": "0"], environment: [:]).slowQueryThreshold == nil)
        #expect(throws: ConfigurationError.self) { try AppConfiguration(flags: ["otel-endpoint": "collector:4318"], environment: [:]) }
        #expect(throws: ConfigurationError.self) { try AppConfiguration(flags: ["slow-query-threshold": "-1"], environment: [:]) }
    }

    @Test func statementNamesAreVerbAndTable() {
        let email = "someone@example.com"
        #expect(("SELECT id, email FROM accounts WHERE email = \(email)" as SQL).statementName == "SELECT accounts")
        #expect(("INSERT INTO orders (id, email) VALUES (\(email), \(email))" as SQL).statementName == "INSERT orders")
        #expect(("UPDATE stock_levels SET on_hand = on_hand - \(1) WHERE sku = \(email)" as SQL).statementName == "UPDATE stock_levels")
        #expect(("DELETE FROM carts WHERE id = \(email)" as SQL).statementName == "DELETE carts")
        #expect(("SELECT 1" as SQL).statementName == "SELECT")
        #expect(("  select count(*) AS n from \"events\"" as SQL).statementName == "SELECT events")
        #expect(("SELECT * FROM \"größen\"(x) WHERE a = \(email)" as SQL).statementName == "SELECT größen")
        #expect(("WITH recent AS (SELECT id FROM orders) SELECT * FROM recent" as SQL).statementName == "WITH orders")
        #expect(("WITH due AS (SELECT id FROM jobs WHERE state = 'pending' FOR UPDATE SKIP LOCKED) SELECT * FROM due" as SQL)
            .statementName == "WITH jobs")
        // Data-modifying CTEs are named by their writes, the CTEs' and the main statement's.
        #expect(("WITH o AS (INSERT INTO orders (id) VALUES (\(email))) INSERT INTO order_lines (id) VALUES (\(email))" as SQL)
            .statementName == "INSERT orders; INSERT order_lines")
        #expect(("WITH bumped AS (UPDATE carts SET version = version + 1 RETURNING version) SELECT version FROM bumped" as SQL)
            .statementName == "UPDATE carts")
        #expect(("WITH gone AS MATERIALIZED (DELETE FROM jobs WHERE id = \(email) RETURNING id) SELECT count(*) FROM gone" as SQL)
            .statementName == "DELETE jobs")
        let event: SQL = """
            WITH sequence AS (INSERT INTO outbox_sequences (id, last) VALUES (\(email), 1)
                ON CONFLICT (id) DO UPDATE SET last = outbox_sequences.last + 1 RETURNING last)
            INSERT INTO outbox (id, seq) SELECT \(email), last FROM sequence ON CONFLICT (id) DO UPDATE SET seq = excluded.seq
            """
        #expect(event.statementName == "INSERT outbox_sequences; INSERT outbox")
    }
}

/// One span as the receiver decoded it from OTLP protobuf: ids in hex, attribute values as text.
struct ReceivedSpan: Sendable {
    var traceID = ""
    var spanID = ""
    var parentSpanID: String?
    var name = ""
    var kind = 0
    var attributes: [String: String] = [:]
}

/// A local OTLP/HTTP collector: accepts `POST /v1/traces` (protobuf) on 127.0.0.1 at a free
/// port and decodes the spans. `run` always stops it.
final class OTLPReceiver: Sendable {
    private let received = Mutex<(spans: [ReceivedSpan], services: Set<String>)>(([], []))
    private let channel = Mutex<(any Channel)?>(nil)
    private let port = Mutex(0)

    var url: String { "http://127.0.0.1:\(port.withLock { $0 })" }
    var spans: [ReceivedSpan] { received.withLock { $0.spans } }
    var serviceNames: Set<String> { received.withLock { $0.services } }

    static func run<Result: Sendable>(_ body: (OTLPReceiver) async throws -> Result) async throws -> Result {
        let receiver = OTLPReceiver()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(receiver: receiver))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        receiver.channel.withLock { $0 = channel }
        receiver.port.withLock { $0 = channel.localAddress?.port ?? 0 }
        do {
            let result = try await body(receiver)
            try? await channel.close()
            return result
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// Waits until `done` holds for the spans received, or fails after `timeout`.
    func waitForSpans(timeout: Duration, until done: ([ReceivedSpan]) -> Bool) async throws -> [ReceivedSpan] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let now = spans
            if done(now) { return now }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("the collector did not get the expected spans; it has \(spans.map(\.name))")
    }

    fileprivate func accept(_ body: [UInt8]) {
        let request = Protobuf.fields(body[...])
        var spans: [ReceivedSpan] = []
        var services: Set<String> = []
        for resourceSpans in request where resourceSpans.number == 1 {
            let parts = Protobuf.fields(resourceSpans.bytes)
            for resource in parts where resource.number == 1 {
                for attribute in Protobuf.fields(resource.bytes) where attribute.number == 1 {
                    let (key, value) = Protobuf.keyValue(attribute.bytes)
                    if key == "service.name" { services.insert(value) }
                }
            }
            for scopeSpans in parts where scopeSpans.number == 2 {
                for spanField in Protobuf.fields(scopeSpans.bytes) where spanField.number == 2 {
                    var span = ReceivedSpan()
                    for field in Protobuf.fields(spanField.bytes) {
                        switch field.number {
                        case 1: span.traceID = Protobuf.hex(field.bytes)
                        case 2: span.spanID = Protobuf.hex(field.bytes)
                        case 4: span.parentSpanID = field.bytes.isEmpty ? nil : Protobuf.hex(field.bytes)
                        case 5: span.name = String(decoding: field.bytes, as: UTF8.self)
                        case 6: span.kind = Int(field.varint)
                        case 9:
                            let (key, value) = Protobuf.keyValue(field.bytes)
                            span.attributes[key] = value
                        default: break
                        }
                    }
                    spans.append(span)
                }
            }
        }
        received.withLock { state in
            state.spans += spans
            state.services.formUnion(services)
        }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let receiver: OTLPReceiver
        private var head: HTTPRequestHead?
        private var body: [UInt8] = []

        init(receiver: OTLPReceiver) {
            self.receiver = receiver
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body = []
            case .body(let chunk):
                body += chunk.readableBytesView
            case .end:
                guard let head else { return }
                let accepted = head.method == .POST && head.uri == "/v1/traces"
                    && head.headers.first(name: "content-type") == "application/x-protobuf"
                if accepted { receiver.accept(body) }
                var response = HTTPResponseHead(version: head.version, status: accepted ? .ok : .badRequest)
                // An empty ExportTraceServiceResponse: zero bytes of protobuf.
                response.headers.add(name: "content-type", value: "application/x-protobuf")
                response.headers.add(name: "content-length", value: "0")
                context.write(wrapOutboundOut(.head(response)), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}

/// Just enough of the protobuf wire format to read OTLP's trace messages.
enum Protobuf {
    struct Field {
        var number: Int
        var varint: UInt64 = 0
        var bytes: ArraySlice<UInt8> = []
    }

    static func fields(_ data: ArraySlice<UInt8>) -> [Field] {
        var fields: [Field] = []
        var index = data.startIndex
        func varint() -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while index < data.endIndex {
                let byte = data[index]
                index += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { break }
                shift += 7
            }
            return value
        }
        while index < data.endIndex {
            let key = varint()
            var field = Field(number: Int(key >> 3))
            switch key & 7 {
            case 0: field.varint = varint()
            case 1:
                field.bytes = data[index..<min(index + 8, data.endIndex)]
                index += 8
            case 2:
                let length = Int(varint())
                field.bytes = data[index..<min(index + length, data.endIndex)]
                index += length
            case 5:
                field.bytes = data[index..<min(index + 4, data.endIndex)]
                index += 4
            default: return fields
            }
            fields.append(field)
        }
        return fields
    }

    static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// A `KeyValue`: its key and its value as text (string, bool, int or double).
    static func keyValue(_ bytes: ArraySlice<UInt8>) -> (String, String) {
        var key = ""
        var value = ""
        for field in fields(bytes) {
            if field.number == 1 { key = String(decoding: field.bytes, as: UTF8.self) }
            if field.number == 2, let any = fields(field.bytes).first {
                switch any.number {
                case 1: value = String(decoding: any.bytes, as: UTF8.self)
                case 2: value = any.varint == 0 ? "false" : "true"
                case 3: value = String(Int64(bitPattern: any.varint))
                case 4:
                    var bits: UInt64 = 0
                    for (shift, byte) in any.bytes.enumerated() { bits |= UInt64(byte) << (8 * UInt64(shift)) }
                    value = String(Double(bitPattern: bits))
                default: value = String(decoding: any.bytes, as: UTF8.self)
                }
            }
        }
        return (key, value)
    }
}
