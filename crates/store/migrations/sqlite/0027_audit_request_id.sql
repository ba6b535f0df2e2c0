-- Issue 21. The X-Request-Id of the request that recorded an event, so one id follows a
-- request through its response, the log and the trail; NULL for the CLI's changes. (A
-- plain index: a partial one makes SQLite re-prepare statements on the table, 0021.)
ALTER TABLE audit_events ADD COLUMN request_id TEXT;
CREATE INDEX audit_events_request_id ON audit_events (request_id);
