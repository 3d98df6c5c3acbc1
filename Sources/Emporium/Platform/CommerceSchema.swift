import EmporiumStorage

/// Migration 10: shipping, tax, discounts, carts, orders, payments and fulfilments.
///
/// The money rules live in the schema too, so that a bug in code cannot break them: a
/// discount's uses never pass its limit, a payment never refunds more than it captured nor
/// captures more than it authorized, a line is never fulfilled beyond its quantity.
enum CommerceSchema {
    static func statements(for dialect: SQLDialect) -> [SQL] {
        [
            """
            CREATE TABLE shipping_methods (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                currency TEXT NOT NULL CHECK (length(currency) = 3),
                flat_amount BIGINT NOT NULL CHECK (flat_amount >= 0),
                tiers TEXT NOT NULL,
                free_over BIGINT CHECK (free_over >= 0),
                countries TEXT NOT NULL,
                active BOOLEAN NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )
            """,
            // `region` is '' for a country-wide rate, so that the pair is unique on both engines.
            """
            CREATE TABLE tax_rates (
                id TEXT PRIMARY KEY,
                country TEXT NOT NULL,
                region TEXT NOT NULL,
                name TEXT NOT NULL,
                rate_ppm BIGINT NOT NULL CHECK (rate_ppm BETWEEN 0 AND 1000000),
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                UNIQUE (country, region)
            )
            """,
            """
            CREATE TABLE discounts (
                id TEXT PRIMARY KEY,
                code TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL CHECK (kind IN ('percentage', 'fixed')),
                percentage_ppm BIGINT CHECK (percentage_ppm BETWEEN 1 AND 1000000),
                amounts TEXT NOT NULL,
                minimum_subtotals TEXT NOT NULL,
                starts_at TEXT,
                ends_at TEXT,
                usage_limit BIGINT CHECK (usage_limit >= 1),
                per_customer_limit BIGINT CHECK (per_customer_limit >= 1),
                times_used BIGINT NOT NULL DEFAULT 0 CHECK (times_used >= 0),
                active BOOLEAN NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                CHECK (usage_limit IS NULL OR times_used <= usage_limit)
            )
            """,
            // One row per order that used a code; `customer` is the user id or the e-mail.
            """
            CREATE TABLE discount_redemptions (
                id TEXT PRIMARY KEY,
                discount_id TEXT NOT NULL REFERENCES discounts (id),
                order_id TEXT NOT NULL UNIQUE,
                customer TEXT NOT NULL,
                created_at TEXT NOT NULL
            )
            """,
            "CREATE INDEX discount_redemptions_customer ON discount_redemptions (discount_id, customer)",
            """
            CREATE TABLE carts (
                id TEXT PRIMARY KEY,
                secret_hash TEXT UNIQUE,
                user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
                currency TEXT NOT NULL CHECK (length(currency) = 3),
                email TEXT,
                shipping_address TEXT,
                shipping_country TEXT,
                shipping_region TEXT,
                shipping_method_id TEXT REFERENCES shipping_methods (id) ON DELETE SET NULL,
                discount_code TEXT,
                status TEXT NOT NULL CHECK (status IN ('open', 'converted', 'merged')),
                version BIGINT NOT NULL DEFAULT 1,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )
            """,
            // A customer has at most one open cart.
            "CREATE UNIQUE INDEX carts_open_per_user ON carts (user_id) WHERE status = 'open'",
            """
            CREATE TABLE cart_items (
                id TEXT PRIMARY KEY,
                cart_id TEXT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
                variant_id TEXT NOT NULL REFERENCES variants (id) ON DELETE CASCADE,
                quantity BIGINT NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
                sku TEXT NOT NULL,
                title TEXT NOT NULL,
                unit_price BIGINT NOT NULL CHECK (unit_price >= 0),
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                UNIQUE (cart_id, variant_id)
            )
            """,
            """
            CREATE TABLE orders (
                id TEXT PRIMARY KEY,
                number BIGINT NOT NULL UNIQUE,
                cart_id TEXT NOT NULL,
                user_id TEXT REFERENCES users (id) ON DELETE SET NULL,
                email TEXT NOT NULL,
                currency TEXT NOT NULL,
                status TEXT NOT NULL,
                subtotal BIGINT NOT NULL,
                discount BIGINT NOT NULL,
                shipping BIGINT NOT NULL,
                tax BIGINT NOT NULL,
                total BIGINT NOT NULL CHECK (total >= 0),
                tax_included BOOLEAN NOT NULL,
                discount_id TEXT,
                discount_code TEXT,
                shipping_method_id TEXT,
                shipping_method_name TEXT NOT NULL,
                shipping_address TEXT NOT NULL,
                shipping_country TEXT NOT NULL,
                shipping_region TEXT,
                reservation_expires_at TEXT,
                placed_at TEXT,
                cancelled_at TEXT,
                cancel_reason TEXT,
                version BIGINT NOT NULL DEFAULT 1,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )
            """,
            "CREATE INDEX orders_customer ON orders (user_id, id)",
            "CREATE INDEX orders_status ON orders (status, id)",
            "CREATE INDEX orders_placed ON orders (placed_at)",
            "CREATE INDEX orders_unpaid ON orders (reservation_expires_at) WHERE status = 'pending'",
            // `reserved_location_id` is where the line's stock is held; NULL for back-ordered lines.
            """
            CREATE TABLE order_lines (
                id TEXT PRIMARY KEY,
                order_id TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
                position BIGINT NOT NULL,
                variant_id TEXT NOT NULL,
                product_id TEXT NOT NULL,
                sku TEXT NOT NULL,
                title TEXT NOT NULL,
                quantity BIGINT NOT NULL CHECK (quantity >= 1),
                unit_price BIGINT NOT NULL,
                subtotal BIGINT NOT NULL,
                discount BIGINT NOT NULL,
                tax BIGINT NOT NULL,
                reserved_location_id TEXT,
                fulfilled_quantity BIGINT NOT NULL DEFAULT 0,
                CHECK (fulfilled_quantity >= 0 AND fulfilled_quantity <= quantity)
            )
            """,
            "CREATE INDEX order_lines_order ON order_lines (order_id, position)",
            "CREATE INDEX order_lines_product ON order_lines (product_id)",
            """
            CREATE TABLE payments (
                id TEXT PRIMARY KEY,
                order_id TEXT NOT NULL UNIQUE REFERENCES orders (id),
                provider TEXT NOT NULL,
                provider_reference TEXT,
                status TEXT NOT NULL CHECK (status IN ('pending', 'authorized', 'captured', 'voided', 'failed')),
                currency TEXT NOT NULL,
                amount BIGINT NOT NULL CHECK (amount >= 0),
                authorized BIGINT NOT NULL DEFAULT 0,
                captured BIGINT NOT NULL DEFAULT 0,
                refunded BIGINT NOT NULL DEFAULT 0,
                failure_code TEXT,
                captured_at TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                CHECK (authorized <= amount),
                CHECK (captured >= 0 AND captured <= authorized),
                CHECK (refunded >= 0 AND refunded <= captured)
            )
            """,
            """
            CREATE TABLE refunds (
                id TEXT PRIMARY KEY,
                payment_id TEXT NOT NULL REFERENCES payments (id),
                order_id TEXT NOT NULL REFERENCES orders (id),
                amount BIGINT NOT NULL CHECK (amount > 0),
                reason TEXT,
                status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
                provider_reference TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )
            """,
            "CREATE INDEX refunds_order ON refunds (order_id, id)",
            "CREATE INDEX refunds_created ON refunds (created_at)",
            """
            CREATE TABLE fulfillments (
                id TEXT PRIMARY KEY,
                order_id TEXT NOT NULL REFERENCES orders (id),
                location_id TEXT NOT NULL REFERENCES stock_locations (id),
                carrier TEXT,
                tracking_number TEXT,
                created_at TEXT NOT NULL
            )
            """,
            "CREATE INDEX fulfillments_order ON fulfillments (order_id, id)",
            """
            CREATE TABLE fulfillment_lines (
                fulfillment_id TEXT NOT NULL REFERENCES fulfillments (id),
                order_line_id TEXT NOT NULL REFERENCES order_lines (id),
                quantity BIGINT NOT NULL CHECK (quantity >= 1),
                PRIMARY KEY (fulfillment_id, order_line_id)
            )
            """,
        ] + (dialect == .postgres
            // Human order numbers: unique, may skip a number when a checkout rolls back, and
            // never make two checkouts wait for each other.
            ? ["CREATE SEQUENCE order_numbers START WITH 1001"]
            : [])
    }
}
