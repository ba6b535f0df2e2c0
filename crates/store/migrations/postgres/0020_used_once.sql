-- One-time values already seen, by family (as SQLite's 0024): first insert wins, purged
-- once expired.
CREATE TABLE used_once (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);

CREATE INDEX used_once_by_expiry ON used_once (expires_at);
