-- Administration (as SQLite's 0012): roles on users, and the audit trail.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'none';

CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE audit_events (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    address TEXT,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    changes TEXT NOT NULL
);

CREATE INDEX audit_events_by_at ON audit_events (at);
CREATE INDEX audit_events_by_target ON audit_events (target, id);
CREATE INDEX audit_events_by_actor ON audit_events (actor, id);
