-- Valet schema, version 1 (PostgreSQL): the SQLite schema through its migration 0004, in
-- PostgreSQL's types. Times are Unix seconds (BIGINT); hashes and sealed values BYTEA.
-- Every comment on the SQLite schema holds here too; only differences are noted.

CREATE TABLE clients (
    client_id                  TEXT PRIMARY KEY,
    registration               TEXT NOT NULL,
    secret_hash                BYTEA,
    previous_secret_hash       BYTEA,
    previous_secret_expires_at BIGINT,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL
);

CREATE TABLE apis (
    audience   TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- `position` keeps the order the API listed its scopes in (SQLite uses its rowid).
CREATE TABLE api_scopes (
    name        TEXT PRIMARY KEY,
    audience    TEXT NOT NULL REFERENCES apis(audience) ON DELETE CASCADE,
    description TEXT NOT NULL,
    position    INTEGER NOT NULL
);

CREATE INDEX api_scopes_by_audience ON api_scopes (audience, position);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    sealed_private BYTEA NOT NULL,
    public_jwk     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    activates_at   BIGINT NOT NULL,
    publish_until  BIGINT
);

CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);

-- Login names are unique regardless of case: a unique index on lower(username), which
-- every lookup by name uses.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    claims        TEXT NOT NULL,
    password_hash TEXT,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE UNIQUE INDEX users_by_login ON users (lower(username));

CREATE TABLE authorization_codes (
    hash        BYTEA PRIMARY KEY,
    client_id   TEXT NOT NULL,
    grant_id    TEXT NOT NULL,
    details     TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    consumed_at BIGINT
);

CREATE INDEX authorization_codes_by_expiry ON authorization_codes (expires_at);

CREATE TABLE revoked_grants (
    grant_id   TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE INDEX revoked_grants_by_expiry ON revoked_grants (expires_at);

CREATE TABLE grants (
    grant_id   TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    scope      TEXT NOT NULL,
    session    BYTEA,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX grants_by_user_client ON grants (user_id, client_id);
CREATE INDEX grants_by_client ON grants (client_id);
CREATE INDEX grants_by_session ON grants (session);
CREATE INDEX grants_by_expiry ON grants (expires_at);

CREATE TABLE consents (
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE INDEX consents_by_client ON consents (client_id);

CREATE TABLE sessions (
    id_hash    BYTEA PRIMARY KEY,
    user_id    TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    hash       BYTEA PRIMARY KEY,
    grant_id   TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    details    TEXT NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    rotated_at BIGINT,
    successor  BYTEA
);

CREATE INDEX refresh_tokens_by_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_with_successor ON refresh_tokens (rotated_at)
    WHERE successor IS NOT NULL;
