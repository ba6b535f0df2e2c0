-- The account page (issue 16). A session remembers where and in what browser it was
-- signed in (shown to its user) and when it was last used (written at most every few
-- minutes); a grant remembers when its user last withdrew a scope of it (its access
-- tokens issued before then read inactive).
ALTER TABLE sessions ADD COLUMN address TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET last_used_at = created_at;
ALTER TABLE grants ADD COLUMN scope_changed_at INTEGER;
