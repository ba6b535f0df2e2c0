-- Issue 12 (as SQLite's migration 0007): per API, the applications that may introspect
-- tokens whose audience includes it (a JSON array of client ids).
ALTER TABLE apis ADD COLUMN introspectors TEXT NOT NULL DEFAULT '[]';
