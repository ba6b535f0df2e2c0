-- Upstream identity providers added through the administration (as SQLite's 0023).
CREATE TABLE upstream_providers (
    id         TEXT PRIMARY KEY,
    config     TEXT NOT NULL,
    secret     BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
