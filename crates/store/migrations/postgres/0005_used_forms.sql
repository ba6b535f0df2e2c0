-- Sealed login and consent forms that were submitted (as SQLite's 0008): one row per
-- submitted form id, first insert wins, purged once the sealed value has expired.
CREATE TABLE used_forms (
    id         TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE INDEX used_forms_by_expiry ON used_forms (expires_at);
