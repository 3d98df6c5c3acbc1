public import EmporiumCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The built-in `test` provider: a stand-in for a card processor, for development and tests.
/// `tok_visa` and `tok_mastercard` are approved; `tok_chargeDeclined` and
/// `tok_insufficientFunds` are declined; `tok_timeout` behaves as a provider that did not answer
/// in time; `tok_timeoutAfterCharge` approves the charge and then fails to answer, as a
/// provider does when the connection drops after it has acted. It keeps its ledger in memory
/// and honours idempotency keys like a real provider: a repeated key returns the first call's
/// result and moves no money.
///
/// With a ledger file it also appends every call that was answered to that file (one JSON
/// object per line) and reads it back at start, so that, like a real provider, it remembers
/// what it did across restarts of Emporium; the crash test reads the same file to check that
/// nobody was charged without an order.
public final class TestPaymentProvider: PaymentProvider {
    public let name = "test"

    /// A failure to inject into the next calls of one operation, for tests.
    public enum Fault: Sendable, Equatable {
        /// No answer and no effect.
        case timeout
        /// The call takes effect, then the answer is lost (a timeout or a 5xx).
        case timeoutAfterEffect
    }

    public enum Operation: String, Sendable, Hashable {
        case authorize, capture, refund, void
    }

    private static func entry(
        _ operation: Operation, _ key: String, _ result: Result<String, PaymentFailure>, reference: String?, amount: Int64?
    ) -> LedgerEntry {
        switch result {
        case .success(let value):
            LedgerEntry(
                operation: operation.rawValue, key: key, outcome: "succeeded",
                reference: operation == .authorize ? value : reference, amount: amount, result: value)
        case .failure(.declined(let code)):
            LedgerEntry(operation: operation.rawValue, key: key, outcome: "declined", reference: reference, amount: amount, result: code)
        case .failure(.rejected(let reason)):
            LedgerEntry(operation: operation.rawValue, key: key, outcome: "rejected", reference: reference, amount: amount, result: reason)
        case .failure(.timeout):
            LedgerEntry(operation: operation.rawValue, key: key, outcome: "timeout", reference: reference, amount: amount, result: nil)
        }
    }

    struct Authorization {
        var amount: Int64
        var captured: Int64 = 0
        var refunded: Int64 = 0
        var voided = false
    }

    struct State {
        var authorizations: [String: Authorization] = [:]
        /// The result of every call by idempotency key.
        var results: [String: Result<String, PaymentFailure>] = [:]
        /// Calls that moved money, by operation (repeats of a key not counted).
        var effects: [Operation: Int] = [:]
        var faults: [Operation: [Fault]] = [:]
        /// Keys whose first answer was lost on purpose (`tok_timeoutAfterCharge`).
        var lostAnswers: Set<String> = []
    }

    private let state = Mutex(State())
    private let ledger: LedgerFile?

    public init() {
        ledger = nil
    }

    /// A provider that remembers its calls in `ledgerPath` (created when missing). Processes
    /// sharing the file (a server and a separate worker) see each other's calls: each call
    /// first reads what others appended since.
    public init(ledgerPath: String) throws {
        ledger = try LedgerFile(path: ledgerPath)
        state.withLock { catchUp(&$0) }
    }

    private func ledgerLocked<T>(_ body: () -> T) -> T {
        guard let ledger else { return body() }
        return ledger.exclusively(body)
    }

    /// Replays what other processes appended to the ledger since the last look.
    private func catchUp(_ state: inout State) {
        guard let ledger else { return }
        for entry in ledger.newEntries() where state.results[entry.key] == nil {
            Self.replay(entry, into: &state)
        }
    }

    /// One answered call as the ledger file keeps it.
    struct LedgerEntry: Codable {
        let operation: String
        let key: String
        let outcome: String
        /// The authorization the call was about (for authorize: the one it made).
        let reference: String?
        let amount: Int64?
        let result: String?
    }

    private static func replay(_ entry: LedgerEntry, into state: inout State) {
        let operation: Operation? = switch entry.operation {
        case "authorize": .authorize
        case "capture": .capture
        case "refund": .refund
        case "void": .void
        default: nil
        }
        guard let operation else { return }
        guard entry.outcome == "succeeded" else {
            let code = entry.result ?? "unknown"
            state.results[entry.key] = entry.outcome == "declined" ? .failure(.declined(code: code)) : .failure(.rejected(code))
            return
        }
        state.results[entry.key] = .success(entry.result ?? "")
        state.effects[operation, default: 0] += 1
        guard let reference = entry.reference else { return }
        switch operation {
        case .authorize: state.authorizations[reference] = Authorization(amount: entry.amount ?? 0)
        case .capture: state.authorizations[reference]?.captured += entry.amount ?? 0
        case .refund: state.authorizations[reference]?.refunded += entry.amount ?? 0
        case .void: state.authorizations[reference]?.voided = true
        }
    }

    /// How many authorizations moved money (repeats of a key not counted). For tests.
    public var authorizationCount: Int { state.withLock { $0.authorizations.count } }

    /// How many calls of `operation` took effect. For tests.
    public func effects(of operation: Operation) -> Int { state.withLock { $0.effects[operation] ?? 0 } }

    /// The total refunded and captured over every authorization. For tests.
    public var totals: (captured: Int64, refunded: Int64, voided: Int) {
        state.withLock { state in
            state.authorizations.values.reduce(into: (Int64(0), Int64(0), 0)) { sum, authorization in
                sum.0 += authorization.captured
                sum.1 += authorization.refunded
                sum.2 += authorization.voided ? 1 : 0
            }
        }
    }

    /// Makes the next `count` calls of `operation` fail with `fault`.
    public func inject(_ fault: Fault, into operation: Operation, count: Int = 1) {
        state.withLock { $0.faults[operation, default: []] += Array(repeating: fault, count: count) }
    }

    public func authorize(amount: Money, token: String, idempotencyKey: String) async throws(PaymentFailure) -> AuthorizeOutcome {
        .authorized(reference: try once(.authorize, idempotencyKey, amount: amount.minorUnits) { state in
            switch token {
            case "tok_visa", "tok_mastercard", "tok_timeoutAfterCharge":
                let reference = "test_auth_" + UUID().lowercasedString
                state.authorizations[reference] = Authorization(amount: amount.minorUnits)
                return .success(reference)
            case "tok_chargeDeclined": return .failure(.declined(code: "card_declined"))
            case "tok_insufficientFunds": return .failure(.declined(code: "insufficient_funds"))
            case "tok_timeout": return .failure(.timeout)
            default: return .failure(.rejected("unknown test token"))
            }
        } after: { token == "tok_timeoutAfterCharge" ? .timeoutAfterEffect : nil })
    }

    public func capture(reference: String, amount: Money, idempotencyKey: String) async throws(PaymentFailure) {
        _ = try once(.capture, idempotencyKey, reference: reference, amount: amount.minorUnits) { state in
            guard var authorization = state.authorizations[reference], !authorization.voided,
                authorization.captured + amount.minorUnits <= authorization.amount
            else { return .failure(.rejected("nothing to capture")) }
            authorization.captured += amount.minorUnits
            state.authorizations[reference] = authorization
            return .success(reference)
        }
    }

    public func refund(reference: String, amount: Money, idempotencyKey: String) async throws(PaymentFailure) -> String {
        try once(.refund, idempotencyKey, reference: reference, amount: amount.minorUnits) { state in
            guard var authorization = state.authorizations[reference],
                authorization.refunded + amount.minorUnits <= authorization.captured
            else { return .failure(.rejected("refund exceeds what was captured")) }
            authorization.refunded += amount.minorUnits
            state.authorizations[reference] = authorization
            return .success("test_refund_" + UUID().lowercasedString)
        }
    }

    public func void(reference: String, idempotencyKey: String) async throws(PaymentFailure) {
        _ = try once(.void, idempotencyKey, reference: reference) { state in
            guard var authorization = state.authorizations[reference], authorization.captured == 0, !authorization.voided else {
                return .failure(.rejected("nothing to void"))
            }
            authorization.voided = true
            state.authorizations[reference] = authorization
            return .success(reference)
        }
    }

    public func lookup(idempotencyKey: String, amount: Money, reference: String?) async throws(PaymentFailure) -> ProviderRecord? {
        state.withLock { state in
            catchUp(&state)
            return switch state.results[idempotencyKey] {
            case nil: nil
            case .success(let reference): .succeeded(reference: reference)
            case .failure(.declined(let code)), .failure(.rejected(let code)): .failed(code: code)
            case .failure(.timeout): nil
            }
        }
    }

    private func once(
        _ operation: Operation, _ key: String, reference: String? = nil, amount: Int64? = nil,
        _ body: (inout State) -> Result<String, PaymentFailure>, after: () -> Fault? = { nil }
    ) throws(PaymentFailure) -> String {
        let tokenFault = after()
        // The file lock makes look, decide and record one step across processes sharing the
        // ledger (a server and a worker), as a real provider's own database would.
        let result = ledgerLocked { state.withLock { state -> Result<String, PaymentFailure> in
            catchUp(&state)
            if let earlier = state.results[key] { return earlier }
            var fault: Fault?
            if var queued = state.faults[operation], !queued.isEmpty {
                fault = queued.removeFirst()
                state.faults[operation] = queued
            }
            if fault == .timeout { return .failure(.timeout) }
            let result = body(&state)
            // A timeout left nothing behind, so the retry runs afresh.
            if result != .failure(.timeout) {
                state.results[key] = result
                ledger?.append(Self.entry(operation, key, result, reference: reference, amount: amount))
            }
            if case .success = result { state.effects[operation, default: 0] += 1 }
            if fault == .timeoutAfterEffect { return .failure(.timeout) }
            return result
        } }
        // An approval whose answer is lost: the next call with the key gets the approval.
        if tokenFault == .timeoutAfterEffect, case .success = result, state.withLock({ $0.lostAnswers.insert(key).inserted }) {
            throw .timeout
        }
        return try result.get()
    }
}

/// An append-only file of JSON lines. Each line is written with one `write` while the
/// provider's lock is held, so lines never interleave and a killed process leaves whole lines.
final class LedgerFile: Sendable {
    private let descriptor: Int32
    private let path: String
    /// How far this process has read the file.
    private let offset = Mutex<Int>(0)

    init(path: String) throws {
        self.path = path
        descriptor = open(path, O_RDWR | O_APPEND | O_CREAT, 0o600)
        guard descriptor >= 0 else {
            throw LedgerError(description: "cannot open the test payment ledger \(path) (--test-payments-ledger): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(descriptor) }

    /// Runs `body` holding an exclusive lock on the file against other processes.
    func exclusively<T>(_ body: () -> T) -> T {
        flock(descriptor, LOCK_EX)
        defer { flock(descriptor, LOCK_UN) }
        return body()
    }

    /// Whole lines appended since the last call (by any process).
    func newEntries() -> [TestPaymentProvider.LedgerEntry] {
        offset.withLock { offset in
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(offset + bytes.count)) }
                guard count > 0 else { break }
                bytes += buffer[0..<count]
            }
            // A line still being written by another process is read next time.
            guard let lastNewline = bytes.lastIndex(of: 0x0A) else { return [] }
            offset += lastNewline + 1
            return bytes[...lastNewline].split(separator: 0x0A).compactMap { line in
                try? JSONDecoder().decode(TestPaymentProvider.LedgerEntry.self, from: Data(line))
            }
        }
    }

    func append(_ entry: TestPaymentProvider.LedgerEntry) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard var data = try? encoder.encode(entry) else { return }
        data.append(0x0A)
        _ = data.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    }
}

struct LedgerError: Error, CustomStringConvertible {
    let description: String
}
