-- Self-registration (issue 16): a user who signed up and has not yet followed the link
-- emailed to their address is pending until `pending_until` (the link's expiry). A
-- pending user cannot sign in; the purge deletes one still pending after that time.
-- NULL for every other user: an admin's users, and signed-up users once confirmed.
ALTER TABLE users ADD COLUMN pending_until INTEGER;
CREATE INDEX users_pending ON users (pending_until) WHERE pending_until IS NOT NULL;
