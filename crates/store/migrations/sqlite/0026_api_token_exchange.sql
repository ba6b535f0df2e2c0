-- Issue 20. Per API: the applications that may exchange tokens into it (RFC 8693), each
-- with the scopes it may obtain (a JSON array of {"client_id", "scopes"}). None by default.
ALTER TABLE apis ADD COLUMN token_exchange TEXT NOT NULL DEFAULT '[]';
