-- Self-registration (as SQLite's 0018): a signed-up user not yet confirmed by the emailed
-- link is pending until `pending_until`, then purged; NULL for every other user.
ALTER TABLE users ADD COLUMN pending_until BIGINT;
CREATE INDEX users_pending ON users (pending_until) WHERE pending_until IS NOT NULL;
