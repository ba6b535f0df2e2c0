-- Upstream identity providers added through the administration (issue 18): the settings
-- as JSON, the client secret sealed by the server.
CREATE TABLE upstream_providers (
    id         TEXT PRIMARY KEY,
    config     TEXT NOT NULL,
    secret     BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
