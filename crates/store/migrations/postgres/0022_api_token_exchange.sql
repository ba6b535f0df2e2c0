-- Issue 20 (as SQLite's migration 0026): per API, the applications that may exchange
-- tokens into it (RFC 8693), a JSON array of {"client_id", "scopes"}.
ALTER TABLE apis ADD COLUMN token_exchange TEXT NOT NULL DEFAULT '[]';
