-- Accounts at upstream identity providers (as SQLite's 0022).
CREATE TABLE upstream_identities (
    upstream      TEXT NOT NULL,
    subject       TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    email         TEXT,
    refresh_token BYTEA,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL,
    PRIMARY KEY (upstream, subject)
);

CREATE INDEX upstream_identities_by_user ON upstream_identities (user_id);
