-- One-time links sent by email (issue 16): password resets and address verifications,
-- stored as the SHA-256 of their secret, used once, purged when expired.
CREATE TABLE one_time_links (
    hash       BLOB PRIMARY KEY,
    purpose    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX one_time_links_by_user ON one_time_links (user_id, purpose);
CREATE INDEX one_time_links_by_expiry ON one_time_links (expires_at);
