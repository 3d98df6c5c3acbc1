import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// The apps a person let act for them: `GET /v1/me/apps` lists the grants they gave that still
/// hold, `DELETE /v1/me/apps/{grant id}` takes one back, ending its access and refresh tokens
/// at once (both are checked against the grant on every use). People, not API keys or apps,
/// manage their own grants; an admin deleting an app ends every grant it holds.
struct ConnectedAppRoutes {
    let service: OAuthService

    struct ConnectedApp: Encodable, Sendable {
        struct App: Encodable, Sendable {
            let id: String
            let name: String
        }

        let id: String
        let app: App
        let scopes: [String]
        let grantedAt: Date

        enum CodingKeys: String, CodingKey {
            case id, app, scopes
            case grantedAt = "granted_at"
        }
    }

    struct ListResponse: ResponseEncodable {
        let data: [ConnectedApp]
    }

    func register(on routes: RouteRegistrar) {
        routes.on(.get, "/v1/me/apps", access: .customer) { _, context in
            let grants = try await service.grants(of: context.user)
            return ListResponse(data: grants.map { grant, name in
                ConnectedApp(
                    id: grant.id.description, app: .init(id: grant.appID.description, name: name),
                    scopes: grant.scopes.map(\.rawValue).sorted(), grantedAt: grant.createdAt)
            })
        }
        routes.on(.delete, "/v1/me/apps/:id", access: .customer) { _, context in
            let id: ID<OAuthGrant> = try context.base.pathID(notFound: Self.notFound)
            try await service.revoke(id, of: context.user, origin: context.origin)
            return HTTPResponse.Status.noContent
        }
    }

    static let notFound = "You gave no app access under this id."
}

extension OAuthService {
    /// The grants `user` gave that still hold, oldest first, with their apps' names.
    func grants(of user: User) async throws -> [(OAuthGrant, String)] {
        try await store.grants(ofUser: user.id, on: database)
    }

    /// Takes back a grant `user` gave; another person's grant, or one taken back already, is
    /// not found. Audited.
    func revoke(_ id: ID<OAuthGrant>, of user: User, origin: RequestOrigin) async throws {
        try await database.transaction { db in
            guard let grant = try await store.grant(id, on: db), grant.userID == user.id, grant.revokedAt == nil else {
                throw Problem.notFound(ConnectedAppRoutes.notFound)
            }
            try await store.revokeGrant(id, at: clock.now(), on: db)
            try await audit.record(
                .init(actor: .user(user.id), action: "oauth_grant.revoked", target: id.description, origin: origin), on: db)
        }
    }
}

extension OAuthStore {
    /// A person's grants that still hold, of apps that are not deleted, with the apps' names.
    func grants(ofUser user: ID<User>, on db: any SQLExecutor) async throws -> [(OAuthGrant, String)] {
        try await db.query("""
            SELECT g.*, a.name AS app_name FROM oauth_grants g JOIN oauth_apps a ON a.id = g.app_id
            WHERE g.user_id = \(user) AND g.revoked_at IS NULL AND a.deleted_at IS NULL
            ORDER BY g.created_at, g.id LIMIT 200
            """).map { row in (try Self.decodeGrant(row), try row.decode("app_name")) }
    }
}
