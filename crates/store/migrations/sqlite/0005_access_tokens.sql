-- Opaque access tokens (issue 6), for applications or APIs configured for them. Stored
-- only as the SHA-256 of the token. `claims` is the protocol's JSON: the claim set a JWT
-- access token would have carried (RFC 9068 §2.2), opaque to the store. Revoking a token
-- deletes its row; a token of a revoked grant (`grant_id`) is refused by the caller.
CREATE TABLE opaque_access_tokens (
    hash       BLOB PRIMARY KEY,
    client_id  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    grant_id   TEXT,
    claims     TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX opaque_access_tokens_by_expiry ON opaque_access_tokens (expires_at);

-- Per API: `opaque` makes every token whose audience includes the API opaque.
ALTER TABLE apis ADD COLUMN access_token_format TEXT NOT NULL DEFAULT 'jwt'
    CHECK (access_token_format IN ('jwt', 'opaque'));
