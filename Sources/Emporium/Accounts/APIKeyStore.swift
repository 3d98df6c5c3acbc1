import EmporiumCore
import EmporiumStorage
import Foundation

/// The `api_keys` table. Secrets are stored as SHA-256 digests only; a key is found by the
/// digest of what the caller presents.
struct APIKeyStore: Sendable {
    func insert(_ key: APIKey, secretHash: String, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO api_keys (id, name, prefix, secret_hash, scopes, created_by, created_at, expires_at)
            VALUES (\(key.id), \(key.name), \(key.prefix), \(secretHash), \(Self.encode(key.scopes)),
                    \(key.createdBy), \(key.createdAt), \(key.expiresAt))
            """)
    }

    /// The key whose secret is `secret`, if it exists, is not revoked and has not expired.
    func findUsable(secret: String, at now: Date, on db: any SQLExecutor) async throws -> APIKey? {
        try await db.queryFirst("""
            SELECT * FROM api_keys
            WHERE secret_hash = \(SecretToken.digest(secret)) AND revoked_at IS NULL
              AND (expires_at IS NULL OR expires_at > \(now))
            """).map(Self.decode)
    }

    /// Keys by creation order, revoked ones included (they stay for the record).
    func list(after: String?, limit: Int, on db: any SQLExecutor) async throws -> [APIKey] {
        let condition: SQL = after.map { "WHERE id > \($0)" } ?? ""
        return try await db.query("SELECT * FROM api_keys \(condition) ORDER BY id LIMIT \(limit)").map(Self.decode)
    }

    /// Marks the key revoked; a key revoked before keeps its first revocation time. `nil`
    /// when there is no such key.
    func revoke(_ id: ID<APIKey>, at now: Date, on db: any SQLExecutor) async throws -> APIKey? {
        try await db.queryFirst("""
            UPDATE api_keys SET revoked_at = COALESCE(revoked_at, \(now)) WHERE id = \(id) RETURNING *
            """).map(Self.decode)
    }

    private static func encode(_ scopes: Set<Scope>) -> String {
        scopes.sorted().map(\.rawValue).joined(separator: " ")
    }

    private static func decode(_ row: SQLRow) throws -> APIKey {
        let scopes = try row.decode("scopes", as: String.self).split(separator: " ").compactMap { Scope(rawValue: String($0)) }
        return APIKey(
            id: try row.decode("id"), name: try row.decode("name"), prefix: try row.decode("prefix"),
            scopes: Set(scopes), createdBy: try row.decode("created_by"), createdAt: try row.decode("created_at"),
            expiresAt: try row.decode("expires_at"), revokedAt: try row.decode("revoked_at"))
    }
}
