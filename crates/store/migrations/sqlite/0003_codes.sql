-- Authorization codes (RFC 6749 §4.1.2), stored only as SHA-256 hashes. `consumed_at` is
-- set by the one statement that redeems a code; a second redemption finds it set and
-- learns the grant to revoke (RFC 6749 §10.5). `details` is the protocol's JSON
-- (redirect_uri, scope, PKCE challenge, nonce, user, …), opaque to the store.
CREATE TABLE authorization_codes (
    hash        BLOB PRIMARY KEY,
    client_id   TEXT NOT NULL,
    grant_id    TEXT NOT NULL,
    details     TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    consumed_at INTEGER
) STRICT, WITHOUT ROWID;

CREATE INDEX authorization_codes_by_expiry ON authorization_codes (expires_at);

-- Revoked grants: every token issued under a revoked grant is dead. Kept until the
-- longest-lived token of the grant would have expired.
CREATE TABLE revoked_grants (
    grant_id   TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX revoked_grants_by_expiry ON revoked_grants (expires_at);
