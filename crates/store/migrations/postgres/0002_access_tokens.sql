-- Opaque access tokens (as SQLite's migration 0005): stored only as SHA-256 hashes, with
-- the claim set a JWT would carry, deleted on revocation and purged once expired; and
-- the per-API choice of format.
CREATE TABLE opaque_access_tokens (
    hash       BYTEA PRIMARY KEY,
    client_id  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    grant_id   TEXT,
    claims     TEXT NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX opaque_access_tokens_by_expiry ON opaque_access_tokens (expires_at);

ALTER TABLE apis ADD COLUMN access_token_format TEXT NOT NULL DEFAULT 'jwt'
    CHECK (access_token_format IN ('jwt', 'opaque'));
