import EmporiumCore
import EmporiumStorage
import Foundation

/// The `oauth_*` tables: apps, pending consent requests, codes, grants and refresh tokens.
/// Secrets are looked up by their SHA-256 digest only; a code, a consent request and a refresh
/// token are each spent by one conditional update, so two requests racing for the same one
/// cannot both win.
struct OAuthStore: Sendable {
    // MARK: Apps

    func insert(_ app: OAuthApp, secretHash: String?, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO oauth_apps (id, name, client_type, secret_hash, redirect_uris, scopes, grant_types, created_by, created_at)
            VALUES (\(app.id), \(app.name), \(app.clientType.rawValue), \(secretHash), \(app.redirectURIs.joined(separator: " ")),
                    \(Self.encode(app.scopes)), \(app.grantTypes.sorted().map(\.rawValue).joined(separator: " ")),
                    \(app.createdBy), \(app.createdAt))
            """)
    }

    /// An app that has not been deleted.
    func app(_ id: ID<OAuthApp>, on db: any SQLExecutor) async throws -> OAuthApp? {
        try await db.queryFirst("SELECT * FROM oauth_apps WHERE id = \(id) AND deleted_at IS NULL").map(Self.decodeApp)
    }

    /// The app and its secret's digest, for client authentication.
    func appWithSecret(_ id: ID<OAuthApp>, on db: any SQLExecutor) async throws -> (OAuthApp, String?)? {
        guard let row = try await db.queryFirst("SELECT * FROM oauth_apps WHERE id = \(id) AND deleted_at IS NULL") else {
            return nil
        }
        return (try Self.decodeApp(row), try row.decode("secret_hash"))
    }

    func apps(after: String?, limit: Int, on db: any SQLExecutor) async throws -> [OAuthApp] {
        let condition: SQL = after.map { "AND id > \($0)" } ?? ""
        return try await db.query("""
            SELECT * FROM oauth_apps WHERE deleted_at IS NULL \(condition) ORDER BY id LIMIT \(limit)
            """).map(Self.decodeApp)
    }

    /// Deletes the app and revokes every grant it holds; `nil` when there is no such app.
    func delete(_ id: ID<OAuthApp>, at now: Date, on db: any SQLExecutor) async throws -> OAuthApp? {
        guard let app = try await db.queryFirst("""
            UPDATE oauth_apps SET deleted_at = \(now) WHERE id = \(id) AND deleted_at IS NULL RETURNING *
            """).map(Self.decodeApp)
        else { return nil }
        try await db.execute("UPDATE oauth_grants SET revoked_at = \(now) WHERE app_id = \(id) AND revoked_at IS NULL")
        return app
    }

    // MARK: Consent requests

    struct PendingRequest: Sendable {
        let appID: ID<OAuthApp>
        let redirectURI: String
        let scopes: Set<Scope>
        let state: String
        let codeChallenge: String
    }

    func insertRequest(_ request: PendingRequest, tokenHash: String, expiresAt: Date, now: Date, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO oauth_requests (token_hash, app_id, redirect_uri, scopes, state, code_challenge, expires_at, created_at)
            VALUES (\(tokenHash), \(request.appID), \(request.redirectURI), \(Self.encode(request.scopes)), \(request.state),
                    \(request.codeChallenge), \(expiresAt), \(now))
            """)
    }

    /// The request if it is unanswered and current.
    func request(tokenHash: String, now: Date, on db: any SQLExecutor) async throws -> PendingRequest? {
        try await db.queryFirst("""
            SELECT * FROM oauth_requests WHERE token_hash = \(tokenHash) AND answered_at IS NULL AND expires_at > \(now)
            """).map(Self.decodeRequest)
    }

    /// Marks the request answered, once; `nil` when it was answered before or has expired.
    func answer(tokenHash: String, now: Date, on db: any SQLExecutor) async throws -> PendingRequest? {
        try await db.queryFirst("""
            UPDATE oauth_requests SET answered_at = \(now)
            WHERE token_hash = \(tokenHash) AND answered_at IS NULL AND expires_at > \(now)
            RETURNING *
            """).map(Self.decodeRequest)
    }

    // MARK: Codes

    struct Code: Sendable {
        let appID: ID<OAuthApp>
        let userID: ID<User>
        let redirectURI: String
        let scopes: Set<Scope>
        let codeChallenge: String
    }

    func insertCode(_ code: Code, codeHash: String, expiresAt: Date, now: Date, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO oauth_codes (code_hash, app_id, user_id, redirect_uri, scopes, code_challenge, expires_at, created_at)
            VALUES (\(codeHash), \(code.appID), \(code.userID), \(code.redirectURI), \(Self.encode(code.scopes)),
                    \(code.codeChallenge), \(expiresAt), \(now))
            """)
    }

    enum CodeRedemption: Sendable {
        case valid(Code)
        /// Spent before: the grant made from it is to be revoked (RFC 6749 §4.1.2).
        case reused(grant: ID<OAuthGrant>?)
        case unknown
    }

    /// Spends the code in one conditional update if it is unused and current.
    func redeemCode(codeHash: String, now: Date, on db: any SQLExecutor) async throws -> CodeRedemption {
        if let row = try await db.queryFirst("""
            UPDATE oauth_codes SET used_at = \(now)
            WHERE code_hash = \(codeHash) AND used_at IS NULL AND expires_at > \(now)
            RETURNING *
            """)
        {
            return .valid(Code(
                appID: try row.decode("app_id"), userID: try row.decode("user_id"), redirectURI: try row.decode("redirect_uri"),
                scopes: Self.decodeScopes(try row.decode("scopes")), codeChallenge: try row.decode("code_challenge")))
        }
        guard let row = try await db.queryFirst("SELECT used_at, grant_id FROM oauth_codes WHERE code_hash = \(codeHash)") else {
            return .unknown
        }
        if try row.decode("used_at", as: String?.self) != nil {
            return .reused(grant: try row.decode("grant_id"))
        }
        return .unknown
    }

    func recordGrant(_ grant: ID<OAuthGrant>, forCode codeHash: String, on db: any SQLExecutor) async throws {
        try await db.execute("UPDATE oauth_codes SET grant_id = \(grant) WHERE code_hash = \(codeHash)")
    }

    // MARK: Grants

    func insert(_ grant: OAuthGrant, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO oauth_grants (id, app_id, user_id, scopes, created_at)
            VALUES (\(grant.id), \(grant.appID), \(grant.userID), \(Self.encode(grant.scopes)), \(grant.createdAt))
            """)
    }

    /// A grant that is not revoked, of an app that is not deleted.
    func usableGrant(_ id: ID<OAuthGrant>, on db: any SQLExecutor) async throws -> OAuthGrant? {
        try await db.queryFirst("""
            SELECT g.* FROM oauth_grants g JOIN oauth_apps a ON a.id = g.app_id
            WHERE g.id = \(id) AND g.revoked_at IS NULL AND a.deleted_at IS NULL
            """).map(Self.decodeGrant)
    }

    func grant(_ id: ID<OAuthGrant>, on db: any SQLExecutor) async throws -> OAuthGrant? {
        try await db.queryFirst("SELECT * FROM oauth_grants WHERE id = \(id)").map(Self.decodeGrant)
    }

    func revokeGrant(_ id: ID<OAuthGrant>, at now: Date, on db: any SQLExecutor) async throws {
        try await db.execute("UPDATE oauth_grants SET revoked_at = \(now) WHERE id = \(id) AND revoked_at IS NULL")
    }

    // MARK: Refresh tokens

    func insertRefreshToken(
        id: String, tokenHash: String, grant: ID<OAuthGrant>, expiresAt: Date, now: Date, on db: any SQLExecutor
    ) async throws {
        try await db.execute("""
            INSERT INTO oauth_refresh_tokens (id, grant_id, token_hash, expires_at, created_at)
            VALUES (\(id), \(grant), \(tokenHash), \(expiresAt), \(now))
            """)
    }

    enum RefreshRedemption: Sendable {
        case valid(grant: ID<OAuthGrant>)
        /// Presented again after rotation: it leaked, and its grant is to be revoked.
        case reused(grant: ID<OAuthGrant>)
        case unknown
    }

    func redeemRefreshToken(tokenHash: String, now: Date, on db: any SQLExecutor) async throws -> RefreshRedemption {
        if let row = try await db.queryFirst("""
            UPDATE oauth_refresh_tokens SET used_at = \(now)
            WHERE token_hash = \(tokenHash) AND used_at IS NULL AND expires_at > \(now)
            RETURNING grant_id
            """)
        {
            return .valid(grant: try row.decode("grant_id"))
        }
        guard let row = try await db.queryFirst("""
            SELECT grant_id, used_at FROM oauth_refresh_tokens WHERE token_hash = \(tokenHash)
            """)
        else { return .unknown }
        if try row.decode("used_at", as: String?.self) != nil { return .reused(grant: try row.decode("grant_id")) }
        return .unknown
    }

    /// The grant a refresh token belongs to, used or not (for revocation).
    func grantOfRefreshToken(tokenHash: String, on db: any SQLExecutor) async throws -> ID<OAuthGrant>? {
        try await refreshTokenState(tokenHash: tokenHash, on: db)?.grant
    }

    /// The grant a refresh token belongs to, and whether it was used.
    func refreshTokenState(tokenHash: String, on db: any SQLExecutor) async throws -> (grant: ID<OAuthGrant>, used: Bool)? {
        guard let row = try await db.queryFirst(
            "SELECT grant_id, used_at FROM oauth_refresh_tokens WHERE token_hash = \(tokenHash)")
        else { return nil }
        return (try row.decode("grant_id"), try row.decode("used_at", as: String?.self) != nil)
    }

    // MARK: Encoding

    static func encode(_ scopes: Set<Scope>) -> String {
        scopes.sorted().map(\.rawValue).joined(separator: " ")
    }

    static func decodeScopes(_ text: String) -> Set<Scope> {
        Set(text.split(separator: " ").compactMap { Scope(rawValue: String($0)) })
    }

    private static func decodeApp(_ row: SQLRow) throws -> OAuthApp {
        OAuthApp(
            id: try row.decode("id"), name: try row.decode("name"),
            clientType: OAuthApp.ClientType(rawValue: try row.decode("client_type")) ?? .public,
            redirectURIs: try row.decode("redirect_uris", as: String.self).split(separator: " ").map(String.init),
            scopes: decodeScopes(try row.decode("scopes")),
            grantTypes: Set(try row.decode("grant_types", as: String.self).split(separator: " ").compactMap {
                OAuthApp.GrantType(rawValue: String($0))
            }),
            createdBy: try row.decode("created_by"),
            createdAt: try row.decode("created_at"), deletedAt: try row.decode("deleted_at"))
    }

    static func decodeGrant(_ row: SQLRow) throws -> OAuthGrant {
        OAuthGrant(
            id: try row.decode("id"), appID: try row.decode("app_id"), userID: try row.decode("user_id"),
            scopes: decodeScopes(try row.decode("scopes")), createdAt: try row.decode("created_at"),
            revokedAt: try row.decode("revoked_at"))
    }

    private static func decodeRequest(_ row: SQLRow) throws -> PendingRequest {
        PendingRequest(
            appID: try row.decode("app_id"), redirectURI: try row.decode("redirect_uri"),
            scopes: decodeScopes(try row.decode("scopes")), state: try row.decode("state"),
            codeChallenge: try row.decode("code_challenge"))
    }
}
