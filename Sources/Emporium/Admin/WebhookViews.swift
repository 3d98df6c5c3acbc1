import EmporiumCore
import Foundation

/// What the webhook and job pages show: rows of the JSON routes' answers as template values,
/// and the links of their lists.
enum WebhookViews {
    /// `path` with its non-empty query fields, percent-encoded: a list's filters and cursor.
    static func link(_ path: String, _ fields: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let query = fields.filter { !$0.1.isEmpty }.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }
        return query.isEmpty ? path : path + "?" + query.joined(separator: "&")
    }

    static func endpoint(_ endpoint: WebhookEndpoint) -> [String: Any] {
        var values: [String: Any] = [
            "id": endpoint.id.description, "url": endpoint.url, "description": endpoint.description,
            "event_types": endpoint.eventTypes.joined(separator: " "), "active": endpoint.active,
            "created": Timestamp.string(from: endpoint.createdAt),
        ]
        // Set only when there is one: Mustache shows a section for any string, even an empty one.
        if let since = endpoint.failingSince { values["failing_since"] = Timestamp.string(from: since) }
        if let reason = endpoint.disabledReason { values["disabled_reason"] = reason }
        return values
    }

    static func delivery(_ delivery: WebhookRoutes.DeliveryResponse, endpoint: String) -> [String: Any] {
        var values: [String: Any] = [
            "id": delivery.id, "endpoint": endpoint, "event_id": delivery.eventID, "event_type": delivery.eventType,
            "attempt": delivery.attempt, "succeeded": delivery.succeeded, "duration_ms": delivery.durationMS,
            "created": delivery.createdAt, "status_code": delivery.statusCode.map(String.init) ?? "none",
        ]
        if let error = delivery.error { values["error"] = error }
        return values
    }

    static func job(_ job: JobRoutes.JobResponse) -> [String: Any] {
        var values: [String: Any] = [
            "id": job.id, "kind": job.kind, "state": job.state, "dead": job.state == Job.State.dead.rawValue,
            "attempts": job.attempts, "max_attempts": job.maxAttempts, "run_at": job.runAt,
            "created": job.createdAt, "updated": job.updatedAt,
            "retryable": job.state == Job.State.dead.rawValue || job.state == Job.State.pending.rawValue,
        ]
        if let error = job.lastError { values["last_error"] = error }
        if let finished = job.finishedAt { values["finished"] = finished }
        return values
    }
}
