-- Second factors (as SQLite's 0013): each session's `amr`, authenticator apps, recovery
-- codes.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
-- And each device approval (empty until approved; read as a password).
ALTER TABLE device_codes ADD COLUMN amr TEXT NOT NULL DEFAULT '';

CREATE TABLE totp_factors (
    user_id     TEXT PRIMARY KEY,
    secret      BYTEA NOT NULL,
    last_step   BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    user_id     TEXT NOT NULL,
    hash        BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, hash)
);
