import EmporiumStorage

/// Migration 18: what carrier rates and labels need. Variants gain parcel dimensions; carts
/// remember a chosen carrier quote; quotes are kept per cart version (the cache every node
/// shares, and the price checkout charges); a label purchase is a row written before the
/// carrier is called and completed after it answers.
enum CarrierSchema {
    static let statements: [SQL] = [
        // Millimetres, all three or none (checked by the admin API); unknown dimensions send
        // the weight alone to the carrier.
        "ALTER TABLE variants ADD COLUMN length_mm BIGINT CHECK (length_mm BETWEEN 1 AND 10000)",
        "ALTER TABLE variants ADD COLUMN width_mm BIGINT CHECK (width_mm BETWEEN 1 AND 10000)",
        "ALTER TABLE variants ADD COLUMN height_mm BIGINT CHECK (height_mm BETWEEN 1 AND 10000)",
        "ALTER TABLE carts ADD COLUMN shipping_rate_id TEXT",
        """
        CREATE TABLE carrier_quotes (
            id TEXT PRIMARY KEY,
            cart_id TEXT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
            cart_version BIGINT NOT NULL,
            parcel_digest TEXT NOT NULL,
            carrier_rate_id TEXT NOT NULL,
            service TEXT NOT NULL,
            name TEXT NOT NULL,
            amount BIGINT NOT NULL CHECK (amount >= 0),
            currency TEXT NOT NULL CHECK (length(currency) = 3),
            estimated_days BIGINT,
            expires_at TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """,
        "CREATE INDEX carrier_quotes_cart ON carrier_quotes (cart_id, cart_version)",
        """
        CREATE TABLE shipping_labels (
            fulfillment_id TEXT PRIMARY KEY REFERENCES fulfillments (id),
            order_id TEXT NOT NULL REFERENCES orders (id),
            service TEXT NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL CHECK (status IN ('pending', 'purchased')),
            carrier_label_id TEXT,
            carrier TEXT,
            tracking_number TEXT,
            label_url TEXT,
            last_error TEXT,
            attempts BIGINT NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """,
        "CREATE INDEX shipping_labels_order ON shipping_labels (order_id)",
    ]
}
