-- One-time links sent by email (as SQLite's 0016).
CREATE TABLE one_time_links (
    hash       BYTEA PRIMARY KEY,
    purpose    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX one_time_links_by_user ON one_time_links (user_id, purpose);
CREATE INDEX one_time_links_by_expiry ON one_time_links (expires_at);
