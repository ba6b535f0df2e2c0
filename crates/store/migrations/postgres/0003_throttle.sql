-- Attempt counters shared by every node (as SQLite's migration 0006).
CREATE TABLE throttle (
    key          TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    next_at      BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

CREATE INDEX throttle_by_expiry ON throttle (expires_at);
