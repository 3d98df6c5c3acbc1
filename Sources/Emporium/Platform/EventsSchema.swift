import EmporiumStorage

/// Migration 11: what happens after a commit. Events get a per-aggregate sequence and are
/// relayed into jobs; jobs get leases, unique keys and ordering; webhook endpoints and their
/// delivery log; and the links that let a retried checkout or refund resume the order or
/// refund its first attempt made instead of starting another.
enum EventsSchema {
    static func statements(for dialect: SQLDialect) -> [SQL] {
        [
            "ALTER TABLE outbox ADD COLUMN sequence BIGINT NOT NULL DEFAULT 0",
            // The last sequence number handed out per aggregate; kept when old events are purged,
            // so numbers never go back.
            """
            CREATE TABLE outbox_sequences (
                aggregate_type TEXT NOT NULL,
                aggregate_id TEXT NOT NULL,
                last BIGINT NOT NULL,
                PRIMARY KEY (aggregate_type, aggregate_id)
            )
            """,
            "CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL",
            "CREATE INDEX outbox_unpublished_sequence ON outbox (aggregate_type, aggregate_id, sequence) WHERE published_at IS NULL",

            "ALTER TABLE jobs ADD COLUMN unique_key TEXT",
            "ALTER TABLE jobs ADD COLUMN ordering_key TEXT",
            "ALTER TABLE jobs ADD COLUMN ordering_seq BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE jobs ADD COLUMN max_attempts BIGINT NOT NULL DEFAULT 20",
            "ALTER TABLE jobs ADD COLUMN locked_by TEXT",
            "ALTER TABLE jobs ADD COLUMN locked_until TEXT",
            "ALTER TABLE jobs ADD COLUMN finished_at TEXT",
            // A unique key is never queued twice while its job is kept (done jobs are purged
            // after the retention period).
            "CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key)",
            "CREATE INDEX jobs_ordering ON jobs (ordering_key, ordering_seq) WHERE state IN ('pending', 'running')",
            "CREATE INDEX jobs_leases ON jobs (locked_until) WHERE state = 'running'",
            "CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state = 'done'",
            "CREATE INDEX jobs_state_kind ON jobs (state, kind, id)",

            // Which process holds an unanswered idempotency claim, so that a restarted node
            // frees its own dead claims at once.
            "ALTER TABLE idempotency_keys ADD COLUMN owner TEXT",
            "ALTER TABLE orders ADD COLUMN checkout_key TEXT",
            "CREATE INDEX orders_checkout_key ON orders (checkout_key) WHERE checkout_key IS NOT NULL",
            "ALTER TABLE refunds ADD COLUMN request_key TEXT",
            // One refund per request key: two overlapping attempts of a request cannot both pay.
            "CREATE UNIQUE INDEX refunds_request_key ON refunds (order_id, request_key)",
            "CREATE INDEX refunds_pending ON refunds (created_at) WHERE status = 'pending'",

            """
            CREATE TABLE webhook_endpoints (
                id TEXT PRIMARY KEY,
                url TEXT NOT NULL,
                description TEXT NOT NULL,
                event_types TEXT NOT NULL,
                active BOOLEAN NOT NULL,
                secret TEXT NOT NULL,
                previous_secret TEXT,
                previous_secret_expires_at TEXT,
                failing_since TEXT,
                disabled_reason TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE webhook_deliveries (
                id TEXT PRIMARY KEY,
                endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
                event_id TEXT NOT NULL,
                event_type TEXT NOT NULL,
                attempt BIGINT NOT NULL,
                status_code BIGINT,
                succeeded BOOLEAN NOT NULL,
                duration_ms BIGINT NOT NULL,
                error TEXT,
                created_at TEXT NOT NULL
            )
            """,
            "CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id)",
        ]
    }
}
