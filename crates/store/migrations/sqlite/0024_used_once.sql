-- One-time values already seen, by family (`kind`): the jti of a client assertion
-- (RFC 7523) or of a DPoP proof (RFC 9449). The first insert wins; kept until the value
-- could no longer be accepted anyway (`expires_at`), then purged.
CREATE TABLE used_once (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
) STRICT, WITHOUT ROWID;

CREATE INDEX used_once_by_expiry ON used_once (expires_at);
