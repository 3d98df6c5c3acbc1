import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import Synchronization

/// A local carrier for tests: a real HTTP server on 127.0.0.1 at a free port speaking
/// Emporium's carrier wire format (docs/integrations.md#carrier-rates). `POST /v1/rates`
/// answers two services priced by weight; `POST /v1/labels` sells a label and, like a real
/// carrier, answers a repeated Idempotency-Key with the label it sold for it. Faults make it
/// slow, fail with 500, or sell a label and then fail.
final class FakeCarrier: Sendable {
    static let apiKey = "carrier_test_key"

    enum Call: String, Sendable { case rates, labels }

    enum Fault: Sendable, Equatable {
        /// Answers 500 without doing anything.
        case serverError
        /// Answers after this many seconds.
        case slow(Double)
        /// Sells the label, then answers 500 (the answer is lost).
        case serverErrorAfterEffect
    }

    struct State {
        var faults: [Call: [Fault]] = [:]
        /// Applied to every call of its kind until cleared, after any queued fault.
        var standing: [Call: Fault] = [:]
        var calls: [Call: Int] = [:]
        var labelsSold: [String: String] = [:]
        var lastBody: [Call: Data] = [:]
        var serial = 0
    }

    private let state = Mutex(State())
    let port: Int
    var url: String { "http://127.0.0.1:\(port)" }

    private init(port: Int) { self.port = port }

    // MARK: Test controls

    func inject(_ fault: Fault, into call: Call, count: Int = 1) {
        state.withLock { $0.faults[call, default: []] += Array(repeating: fault, count: count) }
    }

    func always(_ fault: Fault?, on call: Call) {
        state.withLock { $0.standing[call] = fault }
    }

    func calls(_ call: Call) -> Int { state.withLock { $0.calls[call] ?? 0 } }

    var labelsSold: Int { state.withLock { $0.labelsSold.count } }

    /// The JSON body of the last call of a kind.
    func lastBody(_ call: Call) -> [String: Any]? {
        state.withLock { $0.lastBody[call] }.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }

    // MARK: Server

    static func run<Result: Sendable>(_ body: @Sendable (FakeCarrier) async throws -> Result) async throws -> Result {
        let router = Router()
        let box = Mutex<FakeCarrier?>(nil)
        router.post("/v1/rates") { request, _ in try await box.withLock { $0 }!.handle(request, .rates) }
        router.post("/v1/labels") { request, _ in try await box.withLock { $0 }!.handle(request, .labels) }
        return try await withLocalServer(router, named: "the fake carrier") { port in
            let carrier = FakeCarrier(port: port)
            box.withLock { $0 = carrier }
            return try await body(carrier)
        }
    }

    private func handle(_ request: Request, _ call: Call) async throws -> Response {
        guard request.headers[.authorization] == "Bearer \(Self.apiKey)" else {
            return Self.answer(401, #"{"error":{"code":"unauthorized","message":"unknown API key"}}"#)
        }
        var request = request
        let data = Data(try await request.collectBody(upTo: 1 << 20).readableBytesView)
        guard let body = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            return Self.answer(400, #"{"error":{"code":"invalid_json","message":"the body is not a JSON object"}}"#)
        }
        let key = request.headers[HTTPField.Name("Idempotency-Key")!]
        let fault = state.withLock { box -> Fault? in
            box.calls[call, default: 0] += 1
            box.lastBody[call] = data
            if var queued = box.faults[call], !queued.isEmpty {
                let first = queued.removeFirst()
                box.faults[call] = queued
                return first
            }
            return box.standing[call]
        }
        if case .slow(let seconds) = fault { try? await Task.sleep(for: .milliseconds(Int(seconds * 1000))) }
        if fault == .serverError { return Self.answer(500, #"{"error":{"code":"internal","message":"boom"}}"#) }
        switch call {
        case .rates:
            let parcel = (body["shipment"] as? [String: Any])?["parcel"] as? [String: Any]
            let grams = parcel?["weight_grams"] as? Int ?? 0
            let currency = body["currency"] as? String ?? "EUR"
            let (ground, express) = (500 + grams / 100, 1500 + grams / 50)
            return Self.answer(200, #"""
                {"rates":[{"id":"rate_ground_\#(grams)","service":"ground","name":"Ground","amount":\#(ground),"currency":"\#(currency)","estimated_days":4},
                {"id":"rate_express_\#(grams)","service":"express","name":"Express","amount":\#(express),"currency":"\#(currency)","estimated_days":1}]}
                """#)
        case .labels:
            guard let key, !key.isEmpty else {
                return Self.answer(400, #"{"error":{"code":"idempotency_key_missing","message":"send an Idempotency-Key"}}"#)
            }
            let tracking = state.withLock { box -> String in
                if let sold = box.labelsSold[key] { return sold }
                box.serial += 1
                let number = "TRACK\(1000 + box.serial)"
                box.labelsSold[key] = number
                return number
            }
            if fault == .serverErrorAfterEffect { return Self.answer(500, #"{"error":{"code":"internal","message":"lost"}}"#) }
            return Self.answer(200, #"""
                {"id":"lbl_\#(tracking)","tracking_number":"\#(tracking)","label_url":"https://labels.example/\#(tracking).pdf","carrier":"FakeCarrier"}
                """#)
        }
    }

    private static func answer(_ status: Int, _ body: String) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
