import EmporiumCore
import EmporiumStorage
import Foundation

/// Issuing and revoking API keys, for the JSON routes and the back office alike: the rules a
/// new key must meet, its one-time secret, and the audit record of who did it.
struct APIKeyService: Sendable {
    let database: any Database
    let store: APIKeyStore
    let audit: AuditLog
    let clock: any WallClock
    let ids: any IDGenerator

    /// What a new key asks for, as sent (names of scopes, an RFC 3339 expiry or none).
    struct Request: Sendable {
        let name: String
        let scopes: [String]
        let expiresAt: String?
    }

    /// Issues a key; its secret is returned here and never again (only its digest is kept).
    func issue(_ request: Request, by user: User, origin: RequestOrigin) async throws -> (APIKey, String) {
        let name = request.name.trimmingCharacters(in: .whitespacesAndNewlines)
        var errors: [Problem.FieldError] = []
        if let problem = AccountRules.nameProblem(name) { errors.append(.init(pointer: "/name", detail: problem)) }
        var scopes = Set<Scope>()
        if request.scopes.isEmpty { errors.append(.init(pointer: "/scopes", detail: "must name at least one scope")) }
        for (index, text) in request.scopes.enumerated() {
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
        if let text = request.expiresAt {
            expiresAt = Timestamp.date(from: text)
            if expiresAt.map({ $0 > now }) != true {
                errors.append(.init(pointer: "/expires_at", detail: "must be an RFC 3339 time in the future"))
            }
        }
        guard errors.isEmpty else { throw Problem.validation(errors) }

        let secret = APIKey.secretPrefix + SecretToken.make()
        let key = APIKey(
            id: ids.make(), name: name, prefix: String(secret.prefix(APIKey.shownPrefixLength)), scopes: scopes,
            createdBy: user.id, createdAt: now, expiresAt: expiresAt, revokedAt: nil)
        try await database.transaction { db in
            try await store.insert(key, secretHash: SecretToken.digest(secret), on: db)
            try await audit.record(
                .init(actor: .user(user.id), action: "api_key.created", target: key.id.description, origin: origin), on: db)
        }
        return (key, secret)
    }

    func keys(after: String?, limit: Int) async throws -> [APIKey] {
        try await store.list(after: after, limit: limit, on: database)
    }

    /// Revokes a key at once: the next request that presents it is refused.
    @discardableResult
    func revoke(_ id: ID<APIKey>, by user: User, origin: RequestOrigin) async throws -> APIKey {
        try await database.transaction { db in
            guard let key = try await store.revoke(id, at: clock.now(), on: db) else {
                throw Problem.notFound("There is no API key with this id.")
            }
            try await audit.record(
                .init(actor: .user(user.id), action: "api_key.revoked", target: key.id.description, origin: origin), on: db)
            return key
        }
    }
}
