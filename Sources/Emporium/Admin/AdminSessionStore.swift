import EmporiumCore
import EmporiumStorage
import Foundation

/// A signed-in back-office session: who, since when, until when, and the form token every
/// POST of the session must carry.
struct AdminSession: Sendable {
    let id: ID<AdminSession>
    let userID: ID<User>
    /// The CSRF token of the session's forms: random, never derived from the cookie.
    let csrfToken: String
    /// The user's token generation at sign-in: a password reset, a role change or signing
    /// out everywhere raises it and so ends this session too.
    let tokenGeneration: Int64
    let createdAt: Date
    let lastSeenAt: Date
    /// Absolute end: the session is over then, however busy.
    let expiresAt: Date
    /// A message for the next page the session sees (after a POST's redirect).
    let flash: AdminFlash?
}

/// The one-line message a POST leaves for the page it redirects to.
struct AdminFlash: Sendable, Equatable {
    enum Kind: String, Sendable { case notice, error }
    let kind: Kind
    let text: String
}

/// The `admin_sessions` table (migration 20), its only writer. The cookie's token is stored
/// only as its SHA-256 digest, as refresh tokens are: a copy of the database opens no session.
struct AdminSessionStore: Sendable {
    static let schema: [SQL] = [
        """
        CREATE TABLE admin_sessions (
            id TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            csrf_token TEXT NOT NULL,
            token_generation BIGINT NOT NULL,
            flash_kind TEXT,
            flash_text TEXT,
            client_address TEXT,
            created_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )
        """,
        "CREATE INDEX admin_sessions_user ON admin_sessions (user_id)",
        "CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at)",
    ]

    func insert(_ session: AdminSession, tokenDigest: String, clientAddress: String, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO admin_sessions (id, token_hash, user_id, csrf_token, token_generation, client_address,
                                        created_at, last_seen_at, expires_at)
            VALUES (\(session.id), \(tokenDigest), \(session.userID), \(session.csrfToken), \(session.tokenGeneration),
                    \(clientAddress), \(session.createdAt), \(session.lastSeenAt), \(session.expiresAt))
            """)
    }

    /// The session whose cookie token has this digest, if it has not ended by `now`: neither
    /// past its absolute end nor idle since before `idleSince`.
    func find(tokenDigest: String, now: Date, idleSince: Date, on db: any SQLExecutor) async throws -> AdminSession? {
        try await db.queryFirst("""
            SELECT * FROM admin_sessions
            WHERE token_hash = \(tokenDigest) AND expires_at > \(now) AND last_seen_at > \(idleSince)
            """).map(Self.decode)
    }

    /// Moves the idle clock on.
    func touch(_ id: ID<AdminSession>, at now: Date, on db: any SQLExecutor) async throws {
        try await db.execute("UPDATE admin_sessions SET last_seen_at = \(now) WHERE id = \(id)")
    }

    func setFlash(_ flash: AdminFlash?, of id: ID<AdminSession>, on db: any SQLExecutor) async throws {
        try await db.execute("""
            UPDATE admin_sessions SET flash_kind = \(flash?.kind.rawValue), flash_text = \(flash?.text) WHERE id = \(id)
            """)
    }

    func delete(_ id: ID<AdminSession>, on db: any SQLExecutor) async throws {
        try await db.execute("DELETE FROM admin_sessions WHERE id = \(id)")
    }

    /// Ends every back-office session of the user; returns how many there were.
    func deleteAll(of user: ID<User>, on db: any SQLExecutor) async throws -> Int {
        try await db.query("DELETE FROM admin_sessions WHERE user_id = \(user) RETURNING id").count
    }

    /// Forgets sessions that ended before `cutoff`, so that the table holds live ones only.
    func deleteEnded(before cutoff: Date, idleSince: Date, on db: any SQLExecutor) async throws {
        try await db.execute("DELETE FROM admin_sessions WHERE expires_at <= \(cutoff) OR last_seen_at <= \(idleSince)")
    }

    private static func decode(_ row: SQLRow) throws -> AdminSession {
        let kind = try row.decode("flash_kind", as: String?.self).flatMap(AdminFlash.Kind.init)
        let text = try row.decode("flash_text", as: String?.self)
        return AdminSession(
            id: try row.decode("id"), userID: try row.decode("user_id"), csrfToken: try row.decode("csrf_token"),
            tokenGeneration: try row.decode("token_generation"), createdAt: try row.decode("created_at"),
            lastSeenAt: try row.decode("last_seen_at"), expiresAt: try row.decode("expires_at"),
            flash: kind.flatMap { kind in text.map { AdminFlash(kind: kind, text: $0) } })
    }
}
