import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/admin/api-keys`: admins issue keys (the secret is shown once), list them by prefix
/// and revoke them. Keys cannot manage keys.
struct APIKeyRoutes {
    let service: APIKeyService

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
            let (key, secret) = try await service.issue(
                .init(name: input.name, scopes: input.scopes, expiresAt: input.expiresAt), by: context.user, origin: context.origin)
            return EditedResponse(status: .created, response: KeyResponse(key, secret: secret))
        }

        routes.on(.get, "/v1/admin/api-keys", access: .admin) { request, _ in
            let page = try PageRequest(request)
            return Page(try await service.keys(after: page.after, limit: page.limit + 1).map { KeyResponse($0) }, limit: page.limit, id: \.id)
        }

        routes.on(.delete, "/v1/admin/api-keys/:id", access: .admin) { _, context in
            let id: ID<APIKey> = try context.base.pathID(notFound: "There is no API key with this id.")
            try await service.revoke(id, by: context.user, origin: context.origin)
            return HTTPResponse.Status.noContent
        }
    }
}
