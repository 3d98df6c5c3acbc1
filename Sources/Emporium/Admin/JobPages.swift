import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/admin/jobs`: the background queue by state and kind, dead jobs first, each job's last
/// error, and running a dead job again. Administrators only, as `/v1/admin/jobs`
/// (`JobRoutes`), with the same audit entry.
enum JobPages: AdminSection {
    static let templates: [String: [UInt8]] = [
        "jobs": PackageResources.admin_jobs_mustache,
        "job": PackageResources.admin_job_mustache,
    ]
    static let access = Access.role(.admin)

    static func register(on routes: AdminRoutes, services: BackOfficeServices) {
        routes.page("/admin/jobs", access: access, menu: .init(label: "Jobs", order: 75)) { request, context in
            let page = try PageRequest(request)
            let query = request.uri.queryParameters
            let stateText = query["state"].map(String.init) ?? ""
            let kind = (query["kind"].map(String.init) ?? "").trimmingCharacters(in: .whitespaces)
            var errors: [Problem.FieldError] = []
            let state = stateText.isEmpty ? nil : Job.State(rawValue: stateText)
            if !stateText.isEmpty, state == nil { errors.append(.init(parameter: "state", detail: "must be pending, running, done or dead")) }
            if kind.count > 100 { errors.append(.init(parameter: "kind", detail: "must be a job kind such as mail.order_confirmation")) }
            guard errors.isEmpty else { throw Problem.validation(errors, detail: "The query has invalid parameters.") }
            let kindFilter = kind.isEmpty ? nil : kind
            let jobs = try await services.jobs.list(
                state: state, kind: kindFilter, before: page.after, limit: page.limit, on: services.database)
            let shown = Page(jobs.map(JobRoutes.JobResponse.init), limit: page.limit, id: \.id)
            // Dead jobs need someone: without a state chosen they come first, in a table of their own.
            var dead: [JobRoutes.JobResponse] = []
            if state == nil, page.after == nil {
                let rows = try await services.jobs.list(state: .dead, kind: kindFilter, before: nil, limit: page.limit, on: services.database)
                dead = Page(rows.map(JobRoutes.JobResponse.init), limit: page.limit, id: \.id).data
            }
            let counts = try await services.jobs.deadCounts(on: services.database)
            var values: [String: Any] = [
                "jobs": shown.data.map(WebhookViews.job),
                "states": Job.State.allCases.sorted { ($0 == .dead ? 0 : 1, $0.rawValue) < ($1 == .dead ? 0 : 1, $1.rawValue) }
                    .map { option -> [String: Any] in ["value": option.rawValue, "selected": option == state] },
                "dead_counts": counts.map { count -> [String: Any] in
                    ["kind": count.kind, "count": count.count, "link": WebhookViews.link("/admin/jobs", [("state", "dead"), ("kind", count.kind)])]
                },
            ]
            if !dead.isEmpty { values["dead"] = dead.map(WebhookViews.job); values["has_dead"] = true }
            if !counts.isEmpty { values["has_dead_counts"] = true }
            if !kind.isEmpty { values["kind"] = kind }
            if let next = shown.nextCursor {
                values["next"] = WebhookViews.link("/admin/jobs", [("state", stateText), ("kind", kind), ("cursor", next)])
            }
            return context.render("jobs", title: "Jobs", values)
        }
        routes.page("/admin/jobs/:id", access: access) { _, context in
            let job = try await job(context, services)
            return context.render("job", title: "Job", ["job": WebhookViews.job(JobRoutes.JobResponse(job))])
        }
        let back: @Sendable (Request, AdminContext) -> String = { _, context in
            "/admin/jobs/\(context.parameters.get("id") ?? "")"
        }
        routes.action("/admin/jobs/:id/retry", access: access, returnTo: back) { request, context, _ in
            // As POST /v1/admin/jobs/:id/retry, in one transaction with its audit entry.
            _ = try await JobRoutes.retry(
                context.parameters.get("id") ?? "", store: services.jobs, audit: services.audit, at: services.clock.now(),
                by: context.actor, origin: context.origin, on: services.database)
            return try await context.redirect(to: back(request, context), notice: "The job will run again shortly.")
        }
    }

    static func job(_ context: AdminContext, _ services: BackOfficeServices) async throws -> Job {
        guard let id = context.parameters.get("id"), UUID(canonical: id) != nil,
            let job = try await services.jobs.find(id, on: services.database)
        else { throw JobRoutes.notFound }
        return job
    }
}
