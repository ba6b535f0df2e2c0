-- The browser origins of every application (as SQLite's 0020): one row per origin and
-- application, written with each registration in its transaction (`index_origins` in
-- postgres/applications.rs) and filled for the applications stored before this migration
-- by `backfill_origins`, in the migration's transaction, right after this file. The
-- origins are `Application::web_origins`, computed in Rust.
CREATE TABLE client_origins (
    origin    TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    PRIMARY KEY (origin, client_id)
);
CREATE INDEX client_origins_client ON client_origins (client_id);
