-- Passkeys (WebAuthn, issue 16), by `sub` (directory users too). `credential_id` is the
-- credential's id in base64url (unique across users: WebAuthn §7.1 step 22 refuses a
-- credential registered to anyone already); `credential` is the verified public key
-- with its counter and flags as the server's WebAuthn library serializes it (public
-- data: no secret is stored for a passkey).
CREATE TABLE passkeys (
    credential_id TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    name          TEXT NOT NULL,
    credential    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
) STRICT;
CREATE INDEX passkeys_by_user ON passkeys (user_id, created_at);
