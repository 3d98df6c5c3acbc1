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
        ]),
        Migration(version: 2, name: "accounts", [
            """
            CREATE TABLE users (
                id TEXT PRIMARY KEY,
                email TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('customer', 'staff', 'admin')),
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )
            """,
            // Only digests of refresh tokens; a family is every token descended from one sign-in.
            """
            CREATE TABLE refresh_tokens (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                family_id TEXT NOT NULL,
                token_hash TEXT NOT NULL UNIQUE,
                expires_at TEXT NOT NULL,
                used_at TEXT,
                revoked_at TEXT,
                created_at TEXT NOT NULL
            )
            """,
            "CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)",
            "CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id)",
            """
            CREATE TABLE audit_log (
                id TEXT PRIMARY KEY,
                occurred_at TEXT NOT NULL,
                actor_id TEXT,
                action TEXT NOT NULL,
                target TEXT,
                client_address TEXT,
                request_id TEXT
            )
            """,
            "CREATE INDEX audit_log_time ON audit_log (occurred_at)",
            "CREATE INDEX audit_log_actor ON audit_log (actor_id, occurred_at)",
            "CREATE INDEX audit_log_action ON audit_log (action, occurred_at)",
        ]),
        Migration(version: 3, name: "login throttles", [
            """
            CREATE TABLE login_throttles (
                key TEXT PRIMARY KEY,
                failures BIGINT NOT NULL CHECK (failures >= 0),
                locked_until TEXT,
                updated_at TEXT NOT NULL
            )
            """
        ]),
        Migration(version: 4, name: "addresses", [
            // line1, line2 and phone hold FieldCipher ciphertext, never plain text.
            """
            CREATE TABLE addresses (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                recipient TEXT NOT NULL,
                line1 TEXT NOT NULL,
                line2 TEXT,
                city TEXT NOT NULL,
                region TEXT,
                postal_code TEXT,
                country TEXT NOT NULL CHECK (length(country) = 2),
                phone TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )
            """,
            "CREATE INDEX addresses_user ON addresses (user_id, id)",
        ]),
        Migration(version: 5, name: "two-factor sign-in", [
            // mfa_secret holds FieldCipher ciphertext; mfa_last_step stops code replays.
            "ALTER TABLE users ADD COLUMN mfa_secret TEXT",
            "ALTER TABLE users ADD COLUMN mfa_enabled BOOLEAN NOT NULL DEFAULT FALSE",
            "ALTER TABLE users ADD COLUMN mfa_last_step BIGINT",
        ]),
        Migration(version: 6, name: "password resets", [
            """
            CREATE TABLE password_resets (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                token_hash TEXT NOT NULL UNIQUE,
                expires_at TEXT NOT NULL,
                used_at TEXT,
                created_at TEXT NOT NULL
            )
            """
        ]),
        Migration(version: 7, name: "api keys", [
            // Only the digest of a key's secret; the prefix is what people recognise it by.
            """
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                prefix TEXT NOT NULL,
                secret_hash TEXT NOT NULL UNIQUE,
                scopes TEXT NOT NULL,
                created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
                created_at TEXT NOT NULL,
                expires_at TEXT,
                revoked_at TEXT
            )
            """,
            // Actors are users or API keys; older rows were all users.
            "ALTER TABLE audit_log ADD COLUMN actor_type TEXT",
            "UPDATE audit_log SET actor_type = 'user' WHERE actor_id IS NOT NULL",
        ]),
        Migration(version: 8, name: "catalog and inventory", statements: { dialect in
            [
                """
                CREATE TABLE categories (
                    id TEXT PRIMARY KEY,
                    parent_id TEXT REFERENCES categories (id),
                    slug TEXT NOT NULL UNIQUE,
                    name TEXT NOT NULL,
                    position BIGINT NOT NULL DEFAULT 0,
                    version BIGINT NOT NULL DEFAULT 1,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                )
                """,
                "CREATE INDEX categories_parent ON categories (parent_id)",
                // Tags, images, attributes and option names are JSON text: they are read and
                // written with the product, never queried on their own.
                """
                CREATE TABLE products (
                    id TEXT PRIMARY KEY,
                    handle TEXT NOT NULL UNIQUE,
                    title TEXT NOT NULL,
                    description TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('draft', 'active', 'archived')),
                    category_id TEXT REFERENCES categories (id) ON DELETE SET NULL,
                    tags TEXT NOT NULL,
                    images TEXT NOT NULL,
                    attributes TEXT NOT NULL,
                    options TEXT NOT NULL,
                    version BIGINT NOT NULL DEFAULT 1,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                )
                """,
                // The storefront lists active products newest first, by title, or by category.
                "CREATE INDEX products_active_newest ON products (status, id)",
                "CREATE INDEX products_active_title ON products (status, title, id)",
                "CREATE INDEX products_category ON products (category_id, status, id)",
                """
                CREATE TABLE variants (
                    id TEXT PRIMARY KEY,
                    product_id TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
                    sku TEXT NOT NULL UNIQUE,
                    title TEXT NOT NULL,
                    option_values TEXT NOT NULL,
                    weight_grams BIGINT NOT NULL CHECK (weight_grams >= 0),
                    barcode TEXT,
                    position BIGINT NOT NULL,
                    low_stock_threshold BIGINT NOT NULL DEFAULT 0 CHECK (low_stock_threshold >= 0),
                    backorder TEXT NOT NULL DEFAULT 'deny' CHECK (backorder IN ('deny', 'allow')),
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                )
                """,
                "CREATE INDEX variants_product ON variants (product_id, position)",
                """
                CREATE TABLE prices (
                    variant_id TEXT NOT NULL REFERENCES variants (id) ON DELETE CASCADE,
                    currency TEXT NOT NULL CHECK (length(currency) = 3),
                    amount BIGINT NOT NULL CHECK (amount >= 0),
                    PRIMARY KEY (variant_id, currency)
                )
                """,
                // Each product's cheapest and dearest variant per currency, kept in step with
                // `prices` in the same transaction: price filters and sorts read one row per
                // product instead of aggregating variants.
                """
                CREATE TABLE product_price_ranges (
                    product_id TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
                    currency TEXT NOT NULL,
                    min_amount BIGINT NOT NULL,
                    max_amount BIGINT NOT NULL,
                    PRIMARY KEY (product_id, currency)
                )
                """,
                "CREATE INDEX product_price_ranges_sort ON product_price_ranges (currency, min_amount, product_id)",
                """
                CREATE TABLE stock_locations (
                    id TEXT PRIMARY KEY,
                    code TEXT NOT NULL UNIQUE,
                    name TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                )
                """,
                // Available = on_hand - reserved, never negative: the schema refuses it even if
                // code were wrong.
                """
                CREATE TABLE inventory_levels (
                    variant_id TEXT NOT NULL REFERENCES variants (id) ON DELETE CASCADE,
                    location_id TEXT NOT NULL REFERENCES stock_locations (id),
                    on_hand BIGINT NOT NULL CHECK (on_hand >= 0),
                    reserved BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
                    updated_at TEXT NOT NULL,
                    PRIMARY KEY (variant_id, location_id),
                    CHECK (on_hand - reserved >= 0)
                )
                """,
                "CREATE INDEX inventory_levels_location ON inventory_levels (location_id, variant_id)",
                // Append-only: every change to a level is one row; summing it gives the level.
                """
                CREATE TABLE inventory_movements (
                    id TEXT PRIMARY KEY,
                    variant_id TEXT NOT NULL,
                    location_id TEXT NOT NULL,
                    on_hand_delta BIGINT NOT NULL,
                    reserved_delta BIGINT NOT NULL,
                    reason TEXT NOT NULL,
                    reference TEXT,
                    actor_id TEXT,
                    actor_type TEXT,
                    created_at TEXT NOT NULL
                )
                """,
                "CREATE INDEX inventory_movements_level ON inventory_movements (variant_id, location_id, id)",
                // Responses to requests sent with an Idempotency-Key, per caller, for 24 hours.
                """
                CREATE TABLE idempotency_keys (
                    caller TEXT NOT NULL,
                    key TEXT NOT NULL,
                    request_hash TEXT NOT NULL,
                    status BIGINT,
                    response TEXT,
                    created_at TEXT NOT NULL,
                    expires_at TEXT NOT NULL,
                    PRIMARY KEY (caller, key)
                )
                """,
                "CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at)",
            ] + CatalogSearchSchema.statements(for: dialect)
        }),
        // GIN's pending list makes the planner price every search as a scan of that list
        // until a vacuum merges it, so searches fell back to sequential scans after bulk
        // writes. Catalog writes are rare; index entries go straight into the tree.
        Migration(version: 9, name: "search index without pending list", statements: { dialect in
            dialect == .postgres ? ["ALTER INDEX products_search SET (fastupdate = off)"] : []
        }),
        Migration(version: 10, name: "carts, orders and payments", statements: { dialect in
            CommerceSchema.statements(for: dialect)
        }),
        Migration(version: 11, name: "events, jobs, webhooks and resumable payments", statements: { dialect in
            EventsSchema.statements(for: dialect)
        }),
        // What changed in the catalog and stock, for every node's storefront cache to follow
        // (CatalogChanges in Catalog/CatalogChange.swift).
        Migration(version: 12, name: "catalog change log", statements: { dialect in
            CatalogChanges.schema(for: dialect)
        }),
        // A guest reads their order with a token shown once at checkout: its SHA-256 digest
        // answers reads; a copy sealed with the field cipher waits for the confirmation
        // e-mail and is cleared once that is sent (Orders/OrderStore+Access.swift).
        Migration(version: 13, name: "order access tokens", [
            "ALTER TABLE orders ADD COLUMN access_token_hash TEXT",
            "ALTER TABLE orders ADD COLUMN access_token_sealed TEXT",
        ]),
        // An access token carries the generation it was issued under; raising it ends every
        // earlier token at once (Accounts/AccessTokens.swift).
        Migration(version: 14, name: "access token generations", [
            "ALTER TABLE users ADD COLUMN token_generation BIGINT NOT NULL DEFAULT 0",
        ]),
        // Each audit entry chained to the one before by SHA-256 (Accounts/AuditChain.swift).
        Migration(version: 15, name: "tamper-evident audit log", AuditChain.schema),
        // Each payment provider event (a Stripe webhook) once, by the provider's event id; an
        // event is processed when its payment has been brought up to date
        // (Payments/PaymentStore+Events.swift).
        Migration(version: 16, name: "payment provider events", [
            """
            CREATE TABLE payment_provider_events (
                provider TEXT NOT NULL,
                event_id TEXT NOT NULL,
                type TEXT NOT NULL,
                payment_id TEXT,
                processed_at TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (provider, event_id)
            )
            """,
            "CREATE INDEX payments_provider_reference ON payments (provider, provider_reference)",
        ]),
        // Third-party apps: registrations, consent requests, codes, grants, refresh tokens.
        Migration(version: 17, name: "oauth apps", OAuthSchema.statements),
        // Carrier rates and labels: variant dimensions, quotes per cart version, label steps
        // (Shipping/CarrierSchema.swift).
        Migration(version: 18, name: "carrier rates and labels", CarrierSchema.statements),
        // A person's own grants, listed at GET /v1/me/apps.
        Migration(version: 19, name: "grants by person", [
            "CREATE INDEX oauth_grants_user ON oauth_grants (user_id) WHERE revoked_at IS NULL",
        ]),
        // Back-office sessions (Admin/AdminSessionStore.swift).
        Migration(version: 20, name: "back-office sessions", AdminSessionStore.schema),
        // A generation that moves with every change of tax rates or shipping methods, so that
        // pricing may keep them in memory (Checkout/PricingSettings.swift).
        Migration(version: 21, name: "pricing settings generation", statements: { PricingSettings.schema(for: $0) }),
    ]
}
