import AsyncHTTPClient
import CoreMetrics
import EmporiumCore
import EmporiumStorage
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// The delivery job: sends one event to one endpoint, signed, and records the attempt.
///
/// A 2xx answer is a success. Timeouts, connection failures, 408, 429, 5xx and 3xx (redirects
/// are not followed) are retried on a schedule that spans about a day; any other 4xx means the
/// receiver refuses the event, so the job is dead at once. An endpoint failing for
/// `Settings.disableAfter` without a single success is disabled.
struct WebhookDelivery: Sendable {
    static let kind = "webhook.deliver"
    /// Seconds after each failed try: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (±10 %), about
    /// 28 hours in all.
    static let schedule: [TimeInterval] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000]
    static let maxAttempts = Int64(schedule.count + 1)
    static let userAgent = "Emporium-Webhooks/1.0 (+https://www.standardwebhooks.com)"
    /// What is read of a receiver's answer before it is dropped; nothing of it is kept.
    static let responseLimit = 64 * 1024
    /// The longest Retry-After honoured.
    static let longestRetryAfter: TimeInterval = 24 * 3600

    let database: any Database
    let store: WebhookStore
    let policy: AddressPolicy
    let http: OutboundHTTPClient
    let audit: AuditLog
    let settings: Webhooks.Settings
    let metrics: AppMetrics
    let clock: any WallClock
    let ids: any IDGenerator
    let logger: Logger

    var jobKind: JobKind {
        JobKind(Self.kind, maxAttempts: Self.maxAttempts, backoff: JobKind.schedule(Self.schedule)) { job in
            try await deliver(job)
        }
    }

    /// How one attempt ended.
    enum Attempt: Sendable {
        case answered(status: Int, retryAfter: TimeInterval?)
        case timedOut
        case unreachable(String)
        /// The address policy said no; nothing was sent.
        case refused(String)

        var succeeded: Bool {
            if case .answered(let status, _) = self { return (200..<300).contains(status) }
            return false
        }

        var statusCode: Int64? {
            if case .answered(let status, _) = self { return Int64(status) }
            return nil
        }

        /// For `emporium_webhook_deliveries_total{outcome}`.
        var outcome: String {
            switch self {
            case .answered: succeeded ? "succeeded" : "failed"
            case .timedOut: "timeout"
            case .unreachable: "connection_error"
            case .refused: "refused"
            }
        }

        /// What the delivery log says about a failure.
        func error(timeout: TimeAmount) -> String? {
            switch self {
            case .answered(let status, _):
                if succeeded { return nil }
                let reason = HTTPResponseStatus(statusCode: status).reasonPhrase
                let note = isPermanent ? "; not retried" : (300..<400).contains(status) ? " (redirects are not followed)" : ""
                return "the receiver answered \(status) \(reason)" + note
            case .timedOut:
                let seconds = Double(timeout.nanoseconds) / 1e9
                return "no answer within \(seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)) s"
            case .unreachable(let reason): return "could not connect: \(reason)"
            case .refused(let reason): return "refused: \(reason); not retried"
            }
        }

        /// A refusal by the receiver (a 4xx other than 408 and 429) or by the address policy.
        var isPermanent: Bool {
            switch self {
            case .answered(let status, _): (400..<500).contains(status) && status != 408 && status != 429
            case .refused: true
            case .timedOut, .unreachable: false
            }
        }

        var retryAfter: TimeInterval? {
            if case .answered(_, let after) = self { return after }
            return nil
        }
    }

    func deliver(_ job: Job) async throws {
        let payload = try job.decode(WebhookDeliveryJob.self)
        // A deleted endpoint wants nothing more.
        guard let endpointID = ID<WebhookEndpoint>(payload.endpointID),
            let endpoint = try await store.find(endpointID, on: database)
        else { return }
        guard endpoint.active else {
            throw JobFailure.permanent(
                "webhook endpoint \(endpointID) is inactive; re-activate it, then retry this job or redeliver the event")
        }
        var log = logger
        log[metadataKey: "webhook"] = "\(endpointID)"
        log[metadataKey: "event"] = "\(payload.eventID)"

        let now = clock.now()
        let started = ContinuousClock.now
        let attempt = try await send(payload, to: endpoint, at: now)
        let elapsed = ContinuousClock.now - started
        metrics.counter("emporium_webhook_deliveries_total", [("outcome", attempt.outcome)]).increment()
        if attempt.outcome != "refused" {
            metrics.timer("emporium_webhook_delivery_duration_seconds").recordNanoseconds(Int64(clamping: elapsed.nanoseconds))
        }

        let error = attempt.error(timeout: http.timeout)
        let record = WebhookDeliveryRecord(
            id: ids.make(), endpointID: endpointID, eventID: payload.eventID, eventType: payload.eventType,
            attempt: job.attempts, statusCode: attempt.statusCode, succeeded: attempt.succeeded,
            durationMS: max(0, elapsed.nanoseconds / 1_000_000), error: error, createdAt: now)
        let disabledBecause = try await database.transaction { db -> String? in
            try await store.record(record, on: db)
            if attempt.succeeded {
                try await store.clearFailure(endpointID, on: db)
                return nil
            }
            guard let since = try await store.noteFailure(endpointID, at: now, on: db),
                now.timeIntervalSince(since) >= settings.disableAfter
            else { return nil }
            let reason = "every delivery failed since \(Timestamp.string(from: since)); the last: \(error ?? "failed")"
            guard try await store.disable(endpointID, reason: reason, at: now, on: db) else { return nil }
            try await audit.record(.init(actor: nil, action: "webhook.disabled", target: endpointID.description, origin: nil), on: db)
            return reason
        }

        if attempt.succeeded { return }
        let summary = error ?? "failed"
        if let reason = disabledBecause {
            log.warning(
                "Disabled a webhook endpoint that kept failing; re-activate it with PATCH /v1/admin/webhooks/\(endpointID)",
                metadata: ["reason": "\(reason)"])
            throw JobFailure.permanent("the endpoint was disabled: \(summary)")
        }
        if attempt.isPermanent { throw JobFailure.permanent(summary) }
        throw JobFailure.retry(summary, after: attempt.retryAfter)
    }

    /// Checks the address, signs and posts. Errors of the receiver or the network become an
    /// `Attempt`; only Emporium's own failures (the database, a secret that does not open) throw.
    private func send(_ payload: WebhookDeliveryJob, to endpoint: WebhookEndpoint, at now: Date) async throws -> Attempt {
        switch await policy.vet(endpoint.url) {
        case .refused(let reason): return .refused(reason)
        case .unresolvable(let reason): return .unreachable(reason)
        case .allowed: break
        }
        let secrets = try await store.signingSecrets(of: endpoint.id, at: now, on: database)
        let timestamp = Int64(now.timeIntervalSince1970.rounded(.down))
        var request = HTTPClientRequest(url: endpoint.url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: Self.userAgent)
        request.headers.add(name: "webhook-id", value: payload.eventID)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(
            name: "webhook-signature",
            value: WebhookSignature.header(id: payload.eventID, timestamp: timestamp, body: payload.body, secrets: secrets))
        request.body = .bytes(ByteBuffer(string: payload.body))
        // The receiver continues the trace from `traceparent` if it traces too.
        let span = OutgoingCallSpan.start("POST webhook", peer: URLHost.of(endpoint.url), system: "webhook")
        defer { span.end() }
        span.propagate(into: &request.headers)
        do {
            let response = try await http.client.execute(request, timeout: http.timeout)
            // Read (a little of) the answer so the connection can be used again; its content
            // does not matter.
            _ = try? await response.body.collect(upTo: Self.responseLimit)
            let status = Int(response.status.code)
            span.answered(status: status)
            var retryAfter: TimeInterval?
            if status == 429 || status == 503, let text = response.headers.first(name: "retry-after"),
                let seconds = Int(text.trimmingCharacters(in: .whitespaces)), seconds >= 0
            {
                retryAfter = min(TimeInterval(seconds), Self.longestRetryAfter)
            }
            return .answered(status: status, retryAfter: retryAfter)
        } catch let error as HTTPClientError
            where [.deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout, .tlsHandshakeTimeout].contains(error)
        {
            span.failed(error)
            return .timedOut
        } catch {
            span.failed(error)
            return .unreachable(Self.describe(error))
        }
    }

    /// A network error in words, without a stack of type names.
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return "\(error)".replacingOccurrences(of: "HTTPClientError.", with: "") }
        if let error = error as? IOError { return error.description }
        return String(describing: error)
    }
}
