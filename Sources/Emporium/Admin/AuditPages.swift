import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/admin/audit-log`: who did what, newest first, filtered by action; administrators only,
/// as `GET /v1/admin/audit-log`.
enum AuditPages: AdminSection {
    static let templates: [String: [UInt8]] = [
        "audit_log": PackageResources.admin_audit_log_mustache
    ]

    static func register(on routes: AdminRoutes, services: BackOfficeServices) {
        routes.page("/admin/audit-log", access: .role(.admin), menu: .init(label: "Audit log", order: 90)) { request, context in
            let page = try PageRequest(request)
            let action = (request.uri.queryParameters["action"].map(String.init) ?? "").trimmingCharacters(in: .whitespaces)
            guard action.count <= 100 else {
                throw Problem.validation([.init(parameter: "action", detail: "must be at most 100 characters")])
            }
            var filter = AuditLog.Filter(before: page.after, limit: page.limit)
            if !action.isEmpty { filter.action = action }
            let entries = try await services.audit.entries(filter, on: services.database)
            let shown = Page(entries, limit: page.limit, id: \.id)
            var values: [String: Any] = [
                "entries": shown.data.map { entry -> [String: Any] in
                    [
                        "at": entry.occurredAt, "action": entry.action, "target": entry.target ?? "",
                        "actor": entry.actorType.map { "\($0) \(entry.actorID ?? "")" } ?? "",
                        "action_link": CatalogViews.link("/admin/audit-log", [("action", entry.action)]),
                        "client": entry.clientAddress ?? "", "request": entry.requestID ?? "",
                    ]
                },
            ]
            // Set only when given: Mustache shows a section for any string, even an empty one.
            if !action.isEmpty { values["filter"] = action }
            if let next = shown.nextCursor { values["next"] = CatalogViews.link("/admin/audit-log", [("action", action), ("cursor", next)]) }
            return context.render("audit_log", title: "Audit log", values)
        }
    }
}
