-- Pushed authorization requests (as SQLite's 0025).
CREATE TABLE pushed_requests (
    hash       BYTEA PRIMARY KEY,
    client_id  TEXT NOT NULL,
    params     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX pushed_requests_by_expiry ON pushed_requests (expires_at);
