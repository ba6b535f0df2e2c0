-- OIDC Back-Channel Logout (issue 16): logouts applications have yet to hear of, written
-- with the logout itself, claimed by one node at a time, kept LOGOUT_DELIVERY_MEMORY.
CREATE TABLE logout_deliveries (
    id         INTEGER PRIMARY KEY,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    session    BLOB,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX logout_deliveries_due ON logout_deliveries (next_at);
CREATE INDEX logout_deliveries_by_expiry ON logout_deliveries (expires_at);
