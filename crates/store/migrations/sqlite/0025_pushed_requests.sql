-- Pushed authorization requests (RFC 9126): the parameters as the server validated them
-- (JSON), by the hash of their request_uri; taken once, purged when expired.
CREATE TABLE pushed_requests (
    hash       BLOB PRIMARY KEY,
    client_id  TEXT NOT NULL,
    params     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX pushed_requests_by_expiry ON pushed_requests (expires_at);
