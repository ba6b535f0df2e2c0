-- Device codes of the device authorization grant (as SQLite's 0010): the device code's
-- SHA-256, the user code's HMAC, pending/approved/denied, the approving user and grant,
-- the polling interval and last poll, and `redeemed_at`, set once by the redemption.
CREATE TABLE device_codes (
    device_hash    BYTEA PRIMARY KEY,
    user_code_hash BYTEA NOT NULL UNIQUE,
    client_id      TEXT NOT NULL,
    details        TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    user_id        TEXT,
    auth_time      BIGINT,
    grant_id       TEXT,
    poll_interval  BIGINT NOT NULL,
    last_poll_at   BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    redeemed_at    BIGINT
);

CREATE INDEX device_codes_by_expiry ON device_codes (expires_at);
