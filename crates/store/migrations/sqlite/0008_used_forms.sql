-- Issue 12 item 10. Sealed login and consent forms that were submitted: each sealed value
-- carries a random id and opens once (the first insert wins). Kept until the value itself
-- expires (15 minutes after sealing), then purged; an unsubmitted form writes nothing.
CREATE TABLE used_forms (
    id         TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX used_forms_by_expiry ON used_forms (expires_at);
