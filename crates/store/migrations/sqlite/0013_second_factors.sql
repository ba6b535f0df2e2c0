-- Second factors (issue 16). How each session signed in (RFC 8176 `amr`, space-delimited);
-- sessions from before are password sessions.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
-- And each device approval (empty until approved; read as a password).
ALTER TABLE device_codes ADD COLUMN amr TEXT NOT NULL DEFAULT '';

-- A user's authenticator app (TOTP, RFC 6238), by `sub` (directory users too): the secret
-- sealed by the server under the master key, and the last time step a code was accepted
-- for (raised by one atomic UPDATE … WHERE last_step < ?, so a code counts once).
CREATE TABLE totp_factors (
    user_id     TEXT PRIMARY KEY,
    secret      BLOB NOT NULL,
    last_step   INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

-- Recovery codes: keyed hashes (HMAC under a key derived from the master key); a code is
-- spent by deleting its row.
CREATE TABLE recovery_codes (
    user_id     TEXT NOT NULL,
    hash        BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, hash)
) STRICT;
