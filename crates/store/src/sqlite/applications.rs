//! Applications: the registration (JSON) and the secret hashes.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, all};
use crate::model::{ClientRecord, SecretHash};
use crate::{Applications, Result, UnixTime};

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
            c.execute(
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
            let n = c.execute(
                "UPDATE clients SET registration = ?2, updated_at = ?3 WHERE client_id = ?1",
                params![client.app.client_id, reg, client.updated_at],
            )?;
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
        self.write(move |c| Ok(c.execute("DELETE FROM clients WHERE client_id = ?1", [id])? == 1))
            .await
    }
}
