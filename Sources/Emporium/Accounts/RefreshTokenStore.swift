import EmporiumCore
import EmporiumStorage
import Foundation

enum RefreshTokenFamily {}

/// The `refresh_tokens` table. Only SHA-256 digests of tokens are stored. Tokens descending
/// from one login form a family; rotating marks the old token used, and presenting a used
/// token again revokes the whole family.
struct RefreshTokenStore: Sendable {
    struct Rotated {
        let userID: ID<User>
        let family: ID<RefreshTokenFamily>
    }

    enum Redemption {
        case valid(Rotated)
        /// The token was already used or revoked: someone replayed it.
        case reused(userID: ID<User>, family: ID<RefreshTokenFamily>)
        case unknown
    }

    func insert(
        id: UUID, digest: String, userID: ID<User>, family: ID<RefreshTokenFamily>, expiresAt: Date, now: Date,
        on db: any SQLExecutor
    ) async throws {
        try await db.execute("""
            INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, created_at)
            VALUES (\(id.lowercasedString), \(userID), \(family), \(digest), \(expiresAt), \(now))
            """)
    }

    /// Marks the token used, in one conditional update, if it is current; otherwise tells why not.
    func redeem(digest: String, now: Date, on db: any SQLExecutor) async throws -> Redemption {
        if let row = try await db.queryFirst("""
            UPDATE refresh_tokens SET used_at = \(now)
            WHERE token_hash = \(digest) AND used_at IS NULL AND revoked_at IS NULL AND expires_at > \(now)
            RETURNING user_id, family_id
            """)
        {
            return .valid(Rotated(userID: try row.decode("user_id"), family: try row.decode("family_id")))
        }
        guard let row = try await db.queryFirst("""
            SELECT user_id, family_id, used_at, revoked_at FROM refresh_tokens WHERE token_hash = \(digest)
            """)
        else { return .unknown }
        let used = try row.decode("used_at", as: String?.self) != nil || row.decode("revoked_at", as: String?.self) != nil
        return used ? .reused(userID: try row.decode("user_id"), family: try row.decode("family_id")) : .unknown
    }

    func revokeFamily(_ family: ID<RefreshTokenFamily>, now: Date, on db: any SQLExecutor) async throws {
        try await db.execute("""
            UPDATE refresh_tokens SET revoked_at = \(now) WHERE family_id = \(family) AND revoked_at IS NULL
            """)
    }

    /// Revokes every refresh token the user holds, in every family.
    func revokeAll(of userID: ID<User>, now: Date, on db: any SQLExecutor) async throws {
        try await db.execute("UPDATE refresh_tokens SET revoked_at = \(now) WHERE user_id = \(userID) AND revoked_at IS NULL")
    }

    func family(ofDigest digest: String, on db: any SQLExecutor) async throws -> (ID<User>, ID<RefreshTokenFamily>)? {
        guard let row = try await db.queryFirst("SELECT user_id, family_id FROM refresh_tokens WHERE token_hash = \(digest)") else {
            return nil
        }
        return (try row.decode("user_id"), try row.decode("family_id"))
    }
}
