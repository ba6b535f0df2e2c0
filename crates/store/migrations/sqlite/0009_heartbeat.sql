-- Readiness (issue 12, item 14): one row, rewritten by every readiness check, the
-- cheapest write that proves the database takes writes (a full disk, a read-only file or
-- a writer lock held elsewhere make it fail while reads still answer). Never copied by
-- `valet migrate`: it holds nothing.
CREATE TABLE heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
) STRICT;
