-- Dynamic client registration (RFC 7591, RFC 7592; issue 14). One row per self-registered
-- application, deleted with it: the registration access token's SHA-256 (rotated on every
-- update), the deduplication key (SHA-256 of the normalized metadata and the source
-- address; NULL: never deduplicated) and until when it deduplicates, the last use
-- (written at most once per TOUCH_INTERVAL) and when the application goes if not used:
-- the purge deletes the `clients` row, and this one with it.
CREATE TABLE registrations (
    client_id    TEXT PRIMARY KEY REFERENCES clients(client_id) ON DELETE CASCADE,
    token_hash   BLOB NOT NULL,
    fingerprint  BLOB,
    created_at   INTEGER NOT NULL,
    dedupe_until INTEGER NOT NULL,
    last_used_at INTEGER,
    expires_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX registrations_by_fingerprint ON registrations (fingerprint, dedupe_until);
CREATE INDEX registrations_by_expiry ON registrations (expires_at);

-- Initial access tokens (RFC 7591 §3): SHA-256 of the token, uses left (NULL: any number
-- until it expires), purged at `expires_at`.
CREATE TABLE initial_access_tokens (
    hash       BLOB PRIMARY KEY,
    uses_left  INTEGER,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX initial_access_tokens_by_expiry ON initial_access_tokens (expires_at);
