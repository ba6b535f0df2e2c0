-- Device codes of the device authorization grant (RFC 8628). `device_hash` is the SHA-256
-- of the device code (256 random bits); `user_code_hash` an HMAC of the user code under a
-- key derived from the master key (a user code has ~34 bits: a plain hash in a dump would
-- give it away). `status` is pending, approved or denied; approval records the user, their
-- auth_time and the grant it started. `last_poll_at` starts at the device authorization
-- response; `redeemed_at` is set by the one statement that redeems an approved code. Rows
-- are kept a while past `expires_at` so a late poll still reads `expired_token`.
CREATE TABLE device_codes (
    device_hash    BLOB PRIMARY KEY,
    user_code_hash BLOB NOT NULL UNIQUE,
    client_id      TEXT NOT NULL,
    details        TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    user_id        TEXT,
    auth_time      INTEGER,
    grant_id       TEXT,
    poll_interval  INTEGER NOT NULL,
    last_poll_at   INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    redeemed_at    INTEGER
) STRICT, WITHOUT ROWID;

CREATE INDEX device_codes_by_expiry ON device_codes (expires_at);
