-- Grants: one decision of a user letting an application act for them, and the family of
-- every token issued from it. `session` is the SHA-256 of the browser session the grant was
-- made in (logout ends that session's grants that lack `offline_access`). `expires_at` is
-- when the grant's last token expires; issuing a refresh token raises it.
CREATE TABLE grants (
    grant_id   TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    scope      TEXT NOT NULL,
    session    BLOB,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX grants_by_user_client ON grants (user_id, client_id);
CREATE INDEX grants_by_client ON grants (client_id);
CREATE INDEX grants_by_session ON grants (session);
CREATE INDEX grants_by_expiry ON grants (expires_at);

-- Remembered consent: the scopes a user allowed an application. `created_at` is the first
-- consent; saving again replaces the scopes and sets `updated_at`.
CREATE TABLE consents (
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT, WITHOUT ROWID;

-- Revoking an application's grants forgets every consent given to it.
CREATE INDEX consents_by_client ON consents (client_id);

-- Browser sessions (single sign-on), stored only as the SHA-256 of the cookie value.
-- `auth_time` is when the user last entered their password (OIDC `auth_time`).
CREATE TABLE sessions (
    id_hash    BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL,
    auth_time  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Refresh tokens, stored only as SHA-256 hashes. `rotated_at` is set by the one statement
-- that rotates a token; `successor` is the sealed response of that rotation, kept for a
-- short while (REFRESH_SUCCESSOR_MEMORY) so that a retry gets the same pair, then set to
-- NULL. `details` is the protocol's JSON (scope, audience, auth_time, …), opaque to the
-- store.
CREATE TABLE refresh_tokens (
    hash       BLOB PRIMARY KEY,
    grant_id   TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    details    TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER,
    successor  BLOB
) STRICT, WITHOUT ROWID;

CREATE INDEX refresh_tokens_by_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);
-- Only the few tokens still holding a successor: lets the purge find them without a scan.
CREATE INDEX refresh_tokens_with_successor ON refresh_tokens (rotated_at)
    WHERE successor IS NOT NULL;
