-- Dynamic client registration (as SQLite's 0011): the registration of each self-registered
-- application, deleted with it, and the initial access tokens.
CREATE TABLE registrations (
    client_id    TEXT PRIMARY KEY REFERENCES clients(client_id) ON DELETE CASCADE,
    token_hash   BYTEA NOT NULL,
    fingerprint  BYTEA,
    created_at   BIGINT NOT NULL,
    dedupe_until BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at   BIGINT NOT NULL
);

CREATE INDEX registrations_by_fingerprint ON registrations (fingerprint, dedupe_until);
CREATE INDEX registrations_by_expiry ON registrations (expires_at);

CREATE TABLE initial_access_tokens (
    hash       BYTEA PRIMARY KEY,
    uses_left  BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX initial_access_tokens_by_expiry ON initial_access_tokens (expires_at);
