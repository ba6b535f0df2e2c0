-- Accounts at upstream identity providers (issue 18): which user an upstream subject
-- signs in as. One user per (upstream, subject); a user may link several.
CREATE TABLE upstream_identities (
    upstream      TEXT NOT NULL,
    subject       TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    email         TEXT,
    refresh_token BLOB,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL,
    PRIMARY KEY (upstream, subject)
) STRICT, WITHOUT ROWID;

CREATE INDEX upstream_identities_by_user ON upstream_identities (user_id);
