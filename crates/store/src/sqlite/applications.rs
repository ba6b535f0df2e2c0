//! Applications: the registration (JSON) and the secret hashes.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, all, immediate};
use crate::model::{ClientRecord, SecretHash};
use crate::{Applications, Result, StoreError, UnixTime};
use valet_protocol::application::Application;

pub(super) const CLIENT_COLUMNS: &str = "registration, secret_hash, previous_secret_hash, \
     previous_secret_expires_at, created_at, updated_at";

/// A `clients` row as read, before the registration JSON is parsed.
pub(super) type ClientRow = (
    String,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<i64>,
    i64,
    i64,
);

pub(super) fn client_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClientRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

/// Replaces `app`'s rows of `client_origins` with its `web_origins()`. Called inside the
/// transaction that writes its registration, so the index and the registrations never
/// disagree, whichever process wrote them. The origins are computed here, in Rust, by the
/// one function the server's CORS answers always came from; SQL could not compute them.
pub(super) fn index_origins(c: &rusqlite::Connection, app: &Application) -> Result<()> {
    c.prepare_cached("DELETE FROM client_origins WHERE client_id = ?1")?
        .execute([&app.client_id])?;
    let mut insert = c.prepare_cached(
        "INSERT INTO client_origins (origin, client_id) VALUES (?1, ?2) \
         ON CONFLICT DO NOTHING",
    )?;
    for origin in app.web_origins() {
        insert.execute(params![origin, app.client_id])?;
    }
    Ok(())
}

/// Fills `client_origins` for the applications stored before it existed: run by
/// `migrate` in the migration's transaction, right after `0020_client_origins.sql`.
/// A registration that does not parse fails the migration (nothing is applied), as it
/// would fail every read of that application.
pub(super) fn backfill_origins(c: &rusqlite::Connection) -> Result<()> {
    let rows: Vec<(String, String)> = c
        .prepare("SELECT client_id, registration FROM clients")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, reg) in rows {
        let app: Application = serde_json::from_str(&reg)
            .map_err(|e| StoreError::Corrupt(format!("application {id}: its registration: {e}")))?;
        index_origins(c, &app)?;
    }
    Ok(())
}

pub(super) fn client_record(
    (reg, secret, prev, prev_until, created_at, updated_at): ClientRow,
) -> Result<ClientRecord> {
    Ok(ClientRecord {
        app: serde_json::from_str(&reg)?,
        secret: secret.map(SecretHash),
        previous_secret: prev.zip(prev_until).map(|(h, t)| (SecretHash(h), t)),
        created_at,
        updated_at,
    })
}

#[async_trait]
impl Applications for SqliteStore {
    async fn create_client(&self, client: &ClientRecord) -> Result<()> {
        let client = client.clone();
        self.write(move |c| {
            let reg = serde_json::to_string(&client.app)?;
            let tx = immediate(c)?;
            tx.execute(
                &format!(
                    "INSERT INTO clients (client_id, {CLIENT_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ),
                params![
                    client.app.client_id,
                    reg,
                    client.secret.as_ref().map(|s| &s.0),
                    client.previous_secret.as_ref().map(|p| &p.0.0),
                    client.previous_secret.as_ref().map(|p| p.1),
                    client.created_at,
                    client.updated_at
                ],
            )?;
            index_origins(&tx, &client.app)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        let id = client_id.to_owned();
        self.point_read(move |c| {
            let row = c
                .prepare_cached(&format!(
                    "SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = ?1"
                ))?
                .query_row([id], client_row)
                .optional()?;
            row.map(client_record).transpose()
        })
        .await
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>> {
        self.read(|c| {
            let sql =
                format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY created_at, client_id");
            all(c, &sql, client_row, client_record)
        })
        .await
    }

    async fn update_client(&self, client: &ClientRecord) -> Result<bool> {
        let client = client.clone();
        self.write(move |c| {
            let reg = serde_json::to_string(&client.app)?;
            let tx = immediate(c)?;
            let n = tx.execute(
                "UPDATE clients SET registration = ?2, updated_at = ?3 WHERE client_id = ?1",
                params![client.app.client_id, reg, client.updated_at],
            )?;
            if n == 1 {
                index_origins(&tx, &client.app)?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
        .await
    }

    async fn rotate_client_secret(
        &self,
        client_id: &str,
        secret: &SecretHash,
        previous_until: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<bool> {
        let id = client_id.to_owned();
        let secret = secret.clone();
        self.write(move |c| {
            // One statement: the old hash moves to `previous_*` as the new one lands.
            let n = c.execute(
                "UPDATE clients SET \
                   previous_secret_hash = CASE WHEN ?3 IS NULL THEN NULL ELSE secret_hash END, \
                   previous_secret_expires_at = ?3, \
                   secret_hash = ?2, updated_at = ?4 \
                 WHERE client_id = ?1 AND secret_hash IS NOT NULL",
                params![id, secret.0, previous_until, now],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool> {
        let id = client_id.to_owned();
        // Its `client_origins` rows go with it (ON DELETE CASCADE).
        self.write(move |c| Ok(c.execute("DELETE FROM clients WHERE client_id = ?1", [id])? == 1))
            .await
    }

    async fn is_web_origin(&self, origin: &str) -> Result<bool> {
        let origin = origin.to_owned();
        self.point_read(move |c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM client_origins WHERE origin = ?1 LIMIT 1")?
                    .query_row([origin], |_| Ok(()))
                    .optional()?
                    .is_some(),
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::{CLIENT_ORIGINS, MIGRATIONS, SqliteStore};
    use crate::Applications;

    /// A registration as stored before the origin index.
    const OLD: &str = r#"{"client_id":"old","name":"Old","profile":"web",
        "redirect_uris":["https://old.example/cb"],"grant_types":["authorization_code"],
        "scopes":[],"token_endpoint_auth_method":"client_secret_basic","trusted":false,
        "cors_origins":["https://cors.example"]}"#;

    #[tokio::test]
    async fn the_migration_fills_the_index_from_the_stored_applications() {
        // A database at the schema before `client_origins`, holding one application.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let before = MIGRATIONS
            .iter()
            .position(|m| *m == CLIENT_ORIGINS)
            .unwrap();
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..before] {
                c.execute_batch(sql).unwrap();
            }
            c.pragma_update(None, "user_version", before as i64)
                .unwrap();
            c.execute(
                "INSERT INTO clients (client_id, registration, created_at, updated_at) \
                 VALUES ('old', ?1, 1, 1)",
                [OLD],
            )
            .unwrap();
        }
        let s = SqliteStore::open(&path).await.unwrap();
        assert!(s.is_web_origin("https://old.example").await.unwrap());
        assert!(s.is_web_origin("https://cors.example").await.unwrap());
        assert!(!s.is_web_origin("https://other.example").await.unwrap());
        // And from then on the index follows the application.
        assert!(s.delete_client("old").await.unwrap());
        assert!(!s.is_web_origin("https://old.example").await.unwrap());
    }
}
