import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// The back office: HTML pages for staff under `/admin`, rendered here, served by the same
/// binary and calling the same services as the JSON admin routes.
///
/// # Adding a page
///
/// 1. **A section.** Write a type conforming to `AdminSection` in its own file
///    (`Admin/CatalogPages.swift`, say) and add it to `BackOffice.sections`
///    (`Admin/AdminSections.swift`, one line). Its `register(on:services:)` adds the routes;
///    `services` holds the stores and services the JSON routes use (`BackOfficeServices`):
///    call those, never write SQL in a handler.
/// 2. **A template.** Put `admin_<name>.mustache` in `Sources/Emporium/Admin/Templates/`,
///    add `.embedInCode("Admin/Templates/admin_<name>.mustache")` to the `Emporium` target's
///    resources in Package.swift (one line: resources are embedded in the binary, so nothing
///    is looked up at run time), and list it in your section's `templates`
///    (`["<name>": PackageResources.admin_<name>_mustache]`). A template is the page's main
///    content only; the layout (navigation, flash message, sign-out) wraps it. `{{value}}` is
///    HTML-escaped; never use `{{{value}}}` for anything but markup you rendered yourself.
///    No `style=` attributes and no `<script>`: the Content-Security-Policy refuses them.
///    Classes come from `Admin/Assets/admin.css` (served at `/admin/assets/admin.css`).
/// 3. **Routes.** In `register`:
///    ```swift
///    routes.page("/admin/products", access: .roleOrScope(.staff, .catalogRead),
///                menu: .init(label: "Products", order: 20)) { request, context in
///        context.render("products", title: "Products", ["products": rows])
///    }
///    routes.action("/admin/products/:id/archive", access: .roleOrScope(.staff, .catalogWrite),
///                  returnTo: { _, context in "/admin/products/\(context.parameters.get("id") ?? "")" }) { request, context, form in
///        try context.requireConfirmation(form)          // the ticked "confirm" box of a destructive form
///        … call the service with context.actor and context.origin …
///        return try await context.redirect(to: "/admin/products", notice: "Archived.")
///    }
///    ```
///    `access` is the same `Access` the JSON route declares: a member passes when their role
///    reaches its role (staff hold every scope, as in the API); anyone else gets the 403
///    page and nothing changes. `menu` puts a link in the navigation, shown only to members
///    the access lets in. Every route lands in the route table, hence in the authorization
///    matrix test (add a row there, and one in `AdminAuthorizationTests`) and in openapi.yaml
///    (add the path with the `AdminPage`/`AdminAction` responses, tag `Back office`).
/// 4. **The signed-in member** is `context.member` (a `User`); `context.may(access)` answers
///    whether they may do something (hide a button they could not use).
/// 5. **Forms.** Every `<form method="post">` carries
///    `<input type="hidden" name="csrf_token" value="{{csrf_token}}">`; `render` puts
///    `csrf_token` into every template's values. `action` refuses a POST without the session's
///    token (403 page, nothing changes) before the handler runs; the handler gets the decoded
///    form (`form["field"]`).
/// 6. **After a POST** answer `context.redirect(to:notice:)` (or `error:`): a 303 to the page,
///    which shows the message once. A `Problem` thrown in an action becomes an error message on
///    the `returnTo` page (or the error page when there is none); thrown in a page, the error
///    page with the problem's status.
/// 7. **Destructive actions** ask first: put a required checkbox
///    `<input type="checkbox" name="confirm" value="yes" required>` with a label saying what
///    happens into the form, and call `context.requireConfirmation(form)` (the server checks it
///    too: `required` is only the browser's help).
/// 8. **Lists** page with the same cursors as the API: `AdminPaging(request)` reads `cursor` and
///    `limit`; pass `Page`'s `next_cursor` to the template as a link
///    (`?cursor={{next_cursor}}` plus the filters, `AdminPaging.link`).
///
/// Every action is audited: the services record what they change with `context.actor`; a
/// route whose service does not (the JSON route records it instead) records it itself through
/// `services.audit`, as the JSON route does.
struct BackOffice {
    /// Assembles the back office and adds its routes; `Application+build.swift` calls this once.
    static func register(
        on registrar: RouteRegistrar, core: Core, accounts: AccountService, staff: StaffService, apiKeys: APIKeyService, apps: OAuthService,
        reads: ReadRouting,
        configuration: AppConfiguration, dependencies: AppDependencies
    ) throws {
        let clock = dependencies.clock, ids = dependencies.ids
        let services = BackOfficeServices(
            database: core.database, reports: reads.reports, audit: core.audit, accounts: accounts,
            accountStore: core.accountStore, staff: staff, apiKeys: apiKeys, apps: apps, orders: core.commerce.orderService, inventory: core.inventory,
            catalog: CatalogService(
                database: core.database, store: CatalogStore(), audit: core.audit, outbox: Outbox(ids: ids),
                cache: core.catalogCache, clock: clock, ids: ids),
            catalogCache: core.catalogCache, idempotency: core.idempotency, clock: clock, ids: ids,
            jobs: core.jobs, webhookStore: core.webhooks.store,
            webhookPolicy: AddressPolicy(allowPrivateAddresses: configuration.webhookAllowPrivateAddresses))
        let sessions = AdminSessions(
            database: core.database, store: AdminSessionStore(), accounts: accounts, accountStore: core.accountStore,
            audit: core.audit, clock: clock, ids: ids)
        let pages = try AdminPages(extra: sections.reduce(into: [:]) { $0.merge($1.templates) { $1 } })
        let routes = AdminRoutes(
            registrar: registrar, sessions: sessions, pages: pages,
            cookie: AdminCookie(serverTLS: configuration.tlsCertFile != nil), menu: AdminMenu())
        AdminSignInRoutes.register(on: routes)
        for section in sections { section.register(on: routes, services: services) }
    }
}

/// A part of the back office: its templates and its routes.
protocol AdminSection {
    /// Its templates by name, from `PackageResources`.
    static var templates: [String: [UInt8]] { get }
    static func register(on routes: AdminRoutes, services: BackOfficeServices)
}

/// What pages call: the same stores and services as the JSON routes.
struct BackOfficeServices: Sendable {
    let database: any Database
    /// Where reports read: the replica when there is one.
    let reports: any Database
    let audit: AuditLog
    let accounts: AccountService
    let accountStore: AccountStore
    let staff: StaffService
    let apiKeys: APIKeyService
    let apps: OAuthService
    let orders: OrderService
    let inventory: InventoryStore
    let catalog: CatalogService
    let catalogCache: CatalogCache
    let idempotency: Idempotency
    let clock: any WallClock
    let ids: any IDGenerator
    let jobs: JobStore
    let webhookStore: WebhookStore
    /// The webhook routes' address rules, with the same allowance.
    let webhookPolicy: AddressPolicy
}
