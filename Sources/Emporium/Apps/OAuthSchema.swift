import EmporiumStorage

/// The tables of third-party apps (migration 17). Every secret (client secrets, codes,
/// authorization requests, refresh tokens) is stored only as its SHA-256 digest.
enum OAuthSchema {
    static let statements: [SQL] = [
        """
        CREATE TABLE oauth_apps (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            client_type TEXT NOT NULL CHECK (client_type IN ('confidential', 'public')),
            secret_hash TEXT,
            redirect_uris TEXT NOT NULL,
            scopes TEXT NOT NULL,
            grant_types TEXT NOT NULL,
            created_by TEXT,
            created_at TEXT NOT NULL,
            deleted_at TEXT
        )
        """,
        // A consent page shown to someone: the request it asks about, until it is answered.
        """
        CREATE TABLE oauth_requests (
            token_hash TEXT PRIMARY KEY,
            app_id TEXT NOT NULL REFERENCES oauth_apps (id),
            redirect_uri TEXT NOT NULL,
            scopes TEXT NOT NULL,
            state TEXT NOT NULL,
            code_challenge TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            answered_at TEXT,
            created_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE oauth_grants (
            id TEXT PRIMARY KEY,
            app_id TEXT NOT NULL REFERENCES oauth_apps (id),
            user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
            scopes TEXT NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )
        """,
        "CREATE INDEX oauth_grants_app ON oauth_grants (app_id)",
        """
        CREATE TABLE oauth_codes (
            code_hash TEXT PRIMARY KEY,
            app_id TEXT NOT NULL REFERENCES oauth_apps (id),
            user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            redirect_uri TEXT NOT NULL,
            scopes TEXT NOT NULL,
            code_challenge TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT,
            grant_id TEXT,
            created_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE oauth_refresh_tokens (
            id TEXT PRIMARY KEY,
            grant_id TEXT NOT NULL REFERENCES oauth_grants (id),
            token_hash TEXT NOT NULL UNIQUE,
            expires_at TEXT NOT NULL,
            used_at TEXT,
            created_at TEXT NOT NULL
        )
        """,
        "CREATE INDEX oauth_refresh_tokens_grant ON oauth_refresh_tokens (grant_id)",
    ]
}
