import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/admin/api-keys`: admins issue keys (the secret is shown once), list them by prefix
/// and revoke them. Keys cannot manage keys.
struct APIKeyRoutes {
    let database: any Database
    let store: APIKeyStore
    let audit: AuditLog
    let clock: any WallClock
    let ids: any IDGenerator

    struct CreateInput: Decodable {
        let name: String
        let scopes: [String]
        let expiresAt: String?

        enum CodingKeys: String, CodingKey {
            case name, scopes
            case expiresAt = "expires_at"
        }
    }

    struct KeyResponse: ResponseEncodable {
        let id: String
        let name: String
        let prefix: String
        let scopes: [String]
        let createdBy: String?
        let createdAt: String
        let expiresAt: String?
        let revokedAt: String?
        /// Only in the answer that creates the key.
        let secret: String?

        enum CodingKeys: String, CodingKey {
            case id, name, prefix, scopes, secret
            case createdBy = "created_by"
            case createdAt = "created_at"
            case expiresAt = "expires_at"
            case revokedAt = "revoked_at"
        }

        init(_ key: APIKey, secret: String? = nil) {
            id = key.id.description
            name = key.name
            prefix = key.prefix
            scopes = key.scopes.sorted().map(\.rawValue)
            createdBy = key.createdBy?.description
            createdAt = Timestamp.string(from: key.createdAt)
            expiresAt = key.expiresAt.map(Timestamp.string(from:))
            revokedAt = key.revokedAt.map(Timestamp.string(from:))
            self.secret = secret
        }

        // The secret member is left out rather than null when there is none.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(name, forKey: .name)
            try container.encode(prefix, forKey: .prefix)
            try container.encode(scopes, forKey: .scopes)
            try container.encode(createdBy, forKey: .createdBy)
            try container.encode(createdAt, forKey: .createdAt)
            try container.encode(expiresAt, forKey: .expiresAt)
            try container.encode(revokedAt, forKey: .revokedAt)
            try container.encodeIfPresent(secret, forKey: .secret)
        }
    }

    func register(on routes: RouteRegistrar) {
        routes.on(.post, "/v1/admin/api-keys", access: .admin) { request, context in
            let input = try await request.decodeJSON(as: CreateInput.self, context: context.base)
            let (key, secret) = try await create(input, by: context)
            return EditedResponse(status: .created, response: KeyResponse(key, secret: secret))
        }

        routes.on(.get, "/v1/admin/api-keys", access: .admin) { request, _ in
            let page = try PageRequest(request)
            let keys = try await store.list(after: page.after, limit: page.limit + 1, on: database)
            return Page(keys.map { KeyResponse($0) }, limit: page.limit, id: \.id)
        }

        routes.on(.delete, "/v1/admin/api-keys/:id", access: .admin) { _, context in
            let id: ID<APIKey> = try context.base.pathID(notFound: "There is no API key with this id.")
            try await database.transaction { db in
                guard let key = try await store.revoke(id, at: clock.now(), on: db) else {
                    throw Problem.notFound("There is no API key with this id.")
                }
                try await audit.record(
                    .init(actor: context.actor, action: "api_key.revoked", target: key.id.description, origin: context.origin),
                    on: db)
            }
            return HTTPResponse.Status.noContent
        }
    }

    private func create(_ input: CreateInput, by context: AuthenticatedContext) async throws -> (APIKey, String) {
        let name = input.name.trimmingCharacters(in: .whitespacesAndNewlines)
        var errors: [Problem.FieldError] = []
        if let problem = AccountRules.nameProblem(name) { errors.append(.init(pointer: "/name", detail: problem)) }
        var scopes = Set<Scope>()
        if input.scopes.isEmpty { errors.append(.init(pointer: "/scopes", detail: "must name at least one scope")) }
        for (index, text) in input.scopes.enumerated() {
            if let scope = Scope(rawValue: text) {
                scopes.insert(scope)
            } else {
                errors.append(.init(
                    pointer: "/scopes/\(index)",
                    detail: "must be one of " + Scope.allCases.map(\.rawValue).joined(separator: ", ")))
            }
        }
        let now = clock.now()
        var expiresAt: Date?
        if let text = input.expiresAt {
            expiresAt = Timestamp.date(from: text)
            if expiresAt.map({ $0 > now }) != true {
                errors.append(.init(pointer: "/expires_at", detail: "must be an RFC 3339 time in the future"))
            }
        }
        guard errors.isEmpty else { throw Problem.validation(errors) }

        let secret = APIKey.secretPrefix + SecretToken.make()
        let key = APIKey(
            id: ids.make(), name: name, prefix: String(secret.prefix(APIKey.shownPrefixLength)), scopes: scopes,
            createdBy: context.user.id, createdAt: now, expiresAt: expiresAt, revokedAt: nil)
        try await database.transaction { db in
            try await store.insert(key, secretHash: SecretToken.digest(secret), on: db)
            try await audit.record(
                .init(actor: context.actor, action: "api_key.created", target: key.id.description, origin: context.origin),
                on: db)
        }
        return (key, secret)
    }
}
