-- OIDC Back-Channel Logout (as SQLite's 0014).
CREATE TABLE logout_deliveries (
    id         BIGSERIAL PRIMARY KEY,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    session    BYTEA,
    attempts   BIGINT NOT NULL DEFAULT 0,
    next_at    BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX logout_deliveries_due ON logout_deliveries (next_at);
CREATE INDEX logout_deliveries_by_expiry ON logout_deliveries (expires_at);
