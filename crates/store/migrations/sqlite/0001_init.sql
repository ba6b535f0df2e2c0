-- Valet schema, version 1 (SQLite). Times are Unix seconds.

-- Applications. The registration is a JSON document (valet_protocol::application::Application);
-- the secret is an HMAC-SHA-256 under a key derived from the master key, never the secret.
CREATE TABLE clients (
    client_id                  TEXT PRIMARY KEY,
    registration               TEXT NOT NULL,
    secret_hash                BLOB,
    previous_secret_hash       BLOB,
    previous_secret_expires_at INTEGER,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
) STRICT;

-- APIs (resource servers) and the scopes they define. A scope name belongs to one API.
CREATE TABLE apis (
    audience   TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE api_scopes (
    name        TEXT PRIMARY KEY,
    audience    TEXT NOT NULL REFERENCES apis(audience) ON DELETE CASCADE,
    description TEXT NOT NULL
) STRICT;

-- Signing keys: the private key sealed with AES-256-GCM under the master key.
CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    sealed_private BLOB NOT NULL,
    public_jwk     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    activates_at   INTEGER NOT NULL,
    publish_until  INTEGER
) STRICT;

-- Revoked JWT access tokens, kept until the token would have expired anyway.
-- Issuance writes nothing: this table only grows with revocations.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);
