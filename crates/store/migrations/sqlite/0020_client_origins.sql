-- The browser origins of every application (issue 17, item 1): what `Application::web_origins`
-- computes from its registration (its redirect URIs' origins and its `cors_origins`), one
-- row per origin and application, so that a CORS check is a lookup by key instead of a
-- scan of every application. The origins are computed in Rust, not in SQL, so the store
-- writes these rows in the transaction of every write of a registration (`index_origins`
-- in sqlite/applications.rs) and fills them for the applications stored before this
-- migration in the migration's own transaction (`backfill_origins`, run by `migrate` right
-- after this file). An application's rows go with it (ON DELETE CASCADE).
CREATE TABLE client_origins (
    origin    TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    PRIMARY KEY (origin, client_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX client_origins_client ON client_origins (client_id);
