-- Bounded storage per grant (issue 17): a refresh token names its chain (16 random bytes,
-- base64url) and its generation (0 for the first token, one more per rotation). A
-- rotation keeps the chain's current token and the one it replaced (for the retry
-- window); earlier generations are deleted, and a token presenting one is recognised by
-- its chain and generation as reused. Tokens from before this migration have no chain
-- (NULL) and keep the old rule: a row per token until it expires.
ALTER TABLE refresh_tokens ADD COLUMN chain TEXT;
ALTER TABLE refresh_tokens ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
-- A full index, not a partial one: see 0021_full_indexes.sql.
CREATE INDEX refresh_tokens_by_chain ON refresh_tokens (chain, generation);
