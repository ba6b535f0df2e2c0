-- Issue 12. Per API: the applications (client ids, a JSON array of strings) that may
-- introspect tokens whose audience includes it, besides each token's own application
-- (RFC 7662 §2.2, §4).
ALTER TABLE apis ADD COLUMN introspectors TEXT NOT NULL DEFAULT '[]';
