import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/admin/jobs`: admins watch the queue and run dead jobs again once the cause is fixed.
struct JobRoutes {
    let database: any Database
    let store: JobStore
    let audit: AuditLog
    let clock: any WallClock

    struct JobResponse: ResponseEncodable, Sendable {
        let id: String
        let kind: String
        let state: String
        let attempts: Int64
        let maxAttempts: Int64
        let runAt: String
        @NullEncoded var lastError: String?
        @NullEncoded var finishedAt: String?
        let createdAt: String
        let updatedAt: String

        init(_ job: Job) {
            id = job.id
            kind = job.kind
            state = job.state.rawValue
            attempts = job.attempts
            maxAttempts = job.maxAttempts
            runAt = Timestamp.string(from: job.runAt)
            lastError = job.lastError
            finishedAt = job.finishedAt.map(Timestamp.string(from:))
            createdAt = Timestamp.string(from: job.createdAt)
            updatedAt = Timestamp.string(from: job.updatedAt)
        }

        enum CodingKeys: String, CodingKey {
            case id, kind, state, attempts
            case maxAttempts = "max_attempts"
            case runAt = "run_at"
            case lastError = "last_error"
            case finishedAt = "finished_at"
            case createdAt = "created_at"
            case updatedAt = "updated_at"
        }
    }

    func register(on routes: RouteRegistrar) {
        routes.on(.get, "/v1/admin/jobs", access: .admin) { request, _ in
            let page = try PageRequest(request)
            let query = request.uri.queryParameters
            var errors: [Problem.FieldError] = []
            var state: Job.State?
            if let text = query["state"] {
                state = Job.State(rawValue: String(text))
                if state == nil { errors.append(.init(parameter: "state", detail: "must be pending, running, done or dead")) }
            }
            var kind: String?
            if let text = query["kind"] {
                if (1...100).contains(text.count) { kind = String(text) }
                else { errors.append(.init(parameter: "kind", detail: "must be a job kind such as mail.order_confirmation")) }
            }
            guard errors.isEmpty else { throw Problem.validation(errors, detail: "The query has invalid parameters.") }
            let jobs = try await store.list(state: state, kind: kind, before: page.after, limit: page.limit, on: database)
            return Page(jobs.map(JobResponse.init), limit: page.limit, id: \.id)
        }
        routes.on(.post, "/v1/admin/jobs/:id/retry", access: .admin) { _, context in
            guard let id = context.base.parameters.get("id") else { throw Self.notFound }
            return JobResponse(try await Self.retry(
                id, store: store, audit: audit, at: clock.now(), by: context.actor, origin: context.origin, on: database))
        }
    }

    /// Runs a dead or waiting job again soon, audited in the same transaction; answers the job.
    static func retry(
        _ id: String, store: JobStore, audit: AuditLog, at now: Date, by actor: AuditLog.Actor, origin: RequestOrigin,
        on database: any Database
    ) async throws -> Job {
        guard UUID(canonical: id) != nil else { throw notFound }
        return try await database.transaction { db in
            guard try await store.retry(id, at: now, on: db) else {
                guard let job = try await store.find(id, on: db) else { throw notFound }
                throw Problem(.conflict, slug: "job-not-retryable", title: "Job cannot be retried",
                              detail: "Only a dead or waiting job can be run again; this one is \(job.state.rawValue).")
            }
            try await audit.record(.init(actor: actor, action: "job.retried", target: id, origin: origin), on: db)
            guard let job = try await store.find(id, on: db) else { throw notFound }
            return job
        }
    }

    static let notFound = Problem.notFound("There is no such job.")
}
