-- Partial indexes `WHERE column IS NOT NULL` made SQLite re-prepare every statement on
-- their table with a bound parameter, on every execution: deciding whether a query may use
-- such an index, the planner looks at the parameters' values and marks the statement as
-- depending on them (sqlite3ExprImpliesExpr → exprCompareVariable), so each new value
-- expires the prepared statement. A refresh spent a third of its CPU re-preparing its
-- token lookup (issue 17). Full indexes serve the same queries without that.
DROP INDEX refresh_tokens_with_successor;
CREATE INDEX refresh_tokens_by_rotation ON refresh_tokens (rotated_at);
DROP INDEX users_pending;
CREATE INDEX users_pending ON users (pending_until);
-- 0019 first made this one partial too (`WHERE chain IS NOT NULL`) on development copies.
DROP INDEX IF EXISTS refresh_tokens_by_chain;
CREATE INDEX refresh_tokens_by_chain ON refresh_tokens (chain, generation);
