-- Attempt counters shared by every node (sign-in backoff). Keys are digests; a row goes
-- once `expires_at` has passed (the window ended and no gap is pending).
CREATE TABLE throttle (
    key          TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    next_at      INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX throttle_by_expiry ON throttle (expires_at);
