-- Readiness (as SQLite's migration 0008): one row, rewritten by every readiness check, the
-- cheapest write that proves the database takes writes (a read-only database or standby,
-- a full disk make it fail while reads still answer).
CREATE TABLE heartbeat (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    at BIGINT NOT NULL
);
