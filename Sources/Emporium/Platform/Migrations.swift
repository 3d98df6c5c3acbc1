import EmporiumStorage

/// Emporium's schema history, oldest first. Append only: a migration that has shipped is
/// never edited; change the schema with a new one.
///
/// Conventions, on both engines: ids are UUID text; timestamps are `Timestamp` text
/// (RFC 3339 UTC, fixed width, so text order is time order); money is BIGINT minor units
/// beside a three-letter currency; booleans are BOOLEAN (SQLite stores 0 and 1).
enum Migrations {
    static let all: [Migration] = [
        Migration(version: 1, name: "outbox and jobs", [
            // Events written in the same transaction as the change they report; a worker
            // publishes them in order per aggregate (DESIGN §4).
            """
            CREATE TABLE outbox (
                id TEXT PRIMARY KEY,
                aggregate_type TEXT NOT NULL,
                aggregate_id TEXT NOT NULL,
                event_type TEXT NOT NULL,
                payload TEXT NOT NULL,
                created_at TEXT NOT NULL,
                published_at TEXT
            )
            """,
            "CREATE INDEX outbox_unpublished ON outbox (created_at) WHERE published_at IS NULL",
            // Background work with retries and a dead state.
            """
            CREATE TABLE jobs (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                payload TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'dead')),
                attempts BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
                run_at TEXT NOT NULL,
                last_error TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )
            """,
            "CREATE INDEX jobs_due ON jobs (run_at) WHERE state = 'pending'",
        ])
    ]
}
