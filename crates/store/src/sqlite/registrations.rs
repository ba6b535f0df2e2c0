//! Self-registered applications: registration with deduplication, the RFC 7592 token,
//! the last use, initial access tokens. Every write runs under `BEGIN IMMEDIATE`, so the
//! check and the insert of a deduplicated registration are one decision of the database.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::applications::{CLIENT_COLUMNS, client_record, client_row, index_origins};
use super::{SqliteStore, immediate};
use crate::model::ClientRecord;
use crate::{Registered, RegistrationRecord, Registrations, Result, TokenHash, UnixTime};

const REG_COLUMNS: &str =
    "client_id, token_hash, fingerprint, created_at, dedupe_until, last_used_at, expires_at";

fn reg_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RegistrationRecord> {
    Ok(RegistrationRecord {
        client_id: r.get(0)?,
        token_hash: r.get(1)?,
        fingerprint: r.get(2)?,
        created_at: r.get(3)?,
        dedupe_until: r.get(4)?,
        last_used_at: r.get(5)?,
        expires_at: r.get(6)?,
    })
}

#[async_trait]
impl Registrations for SqliteStore {
    async fn register_client(
        &self,
        client: &ClientRecord,
        reg: &RegistrationRecord,
        initial_token: Option<&TokenHash>,
        now: UnixTime,
    ) -> Result<Registered> {
        let (client, reg, initial) = (client.clone(), reg.clone(), initial_token.cloned());
        self.write(move |c| {
            let tx = immediate(c)?;
            if let Some(hash) = initial {
                let n = tx.execute(
                    "UPDATE initial_access_tokens SET uses_left = uses_left - 1 \
                     WHERE hash = ?1 AND expires_at > ?2 AND (uses_left IS NULL OR uses_left > 0)",
                    params![hash, now],
                )?;
                if n == 0 {
                    return Ok(Registered::TokenRefused);
                }
            }
            if let Some(fp) = &reg.fingerprint {
                let existing: Option<String> = tx
                    .query_row(
                        "SELECT client_id FROM registrations \
                         WHERE fingerprint = ?1 AND dedupe_until > ?2 \
                         ORDER BY created_at LIMIT 1",
                        params![fp, now],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(id) = existing {
                    tx.execute(
                        "UPDATE registrations SET token_hash = ?2 WHERE client_id = ?1",
                        params![id, reg.token_hash],
                    )?;
                    let row = tx.query_row(
                        &format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = ?1"),
                        [&id],
                        client_row,
                    )?;
                    let record = client_record(row)?;
                    tx.commit()?;
                    return Ok(Registered::Existing(Box::new(record)));
                }
            }
            let json = serde_json::to_string(&client.app)?;
            tx.execute(
                &format!(
                    "INSERT INTO clients (client_id, {CLIENT_COLUMNS}) \
                     VALUES (?1, ?2, ?3, NULL, NULL, ?4, ?5)"
                ),
                params![
                    client.app.client_id,
                    json,
                    client.secret.as_ref().map(|s| &s.0),
                    client.created_at,
                    client.updated_at
                ],
            )?;
            index_origins(&tx, &client.app)?;
            tx.execute(
                &format!(
                    "INSERT INTO registrations ({REG_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ),
                params![
                    client.app.client_id,
                    reg.token_hash,
                    reg.fingerprint,
                    reg.created_at,
                    reg.dedupe_until,
                    reg.last_used_at,
                    reg.expires_at
                ],
            )?;
            tx.commit()?;
            Ok(Registered::Created)
        })
        .await
    }

    async fn registration(&self, client_id: &str) -> Result<Option<RegistrationRecord>> {
        let id = client_id.to_owned();
        self.point_read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {REG_COLUMNS} FROM registrations WHERE client_id = ?1"
            ))?
            .query_row([id], reg_row)
            .optional()?)
        })
        .await
    }

    async fn update_registered_client(
        &self,
        client: &ClientRecord,
        presented: &TokenHash,
        new_token: &TokenHash,
    ) -> Result<bool> {
        let (client, presented, new) = (client.clone(), presented.clone(), new_token.clone());
        self.write(move |c| {
            let tx = immediate(c)?;
            let n = tx.execute(
                "UPDATE registrations SET token_hash = ?3 WHERE client_id = ?1 AND token_hash = ?2",
                params![client.app.client_id, presented, new],
            )?;
            if n == 0 {
                return Ok(false);
            }
            let json = serde_json::to_string(&client.app)?;
            tx.execute(
                "UPDATE clients SET registration = ?2, updated_at = ?3 WHERE client_id = ?1",
                params![client.app.client_id, json, client.updated_at],
            )?;
            index_origins(&tx, &client.app)?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn delete_registered_client(
        &self,
        client_id: &str,
        presented: &TokenHash,
    ) -> Result<bool> {
        let (id, presented) = (client_id.to_owned(), presented.clone());
        self.write(move |c| {
            // The registration and origin rows go with the application (ON DELETE CASCADE).
            let n = c.execute(
                "DELETE FROM clients WHERE client_id IN \
                   (SELECT client_id FROM registrations WHERE client_id = ?1 AND token_hash = ?2)",
                params![id, presented],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn touch_registration(
        &self,
        client_id: &str,
        now: UnixTime,
        until: UnixTime,
        min_interval: i64,
    ) -> Result<bool> {
        let id = client_id.to_owned();
        let since = now - min_interval;
        let stale = {
            let id = id.clone();
            self.point_read(move |c| {
                let last: Option<Option<i64>> = c
                    .prepare_cached("SELECT last_used_at FROM registrations WHERE client_id = ?1")?
                    .query_row([id], |r| r.get(0))
                    .optional()?;
                Ok(matches!(last, Some(None)) || matches!(last, Some(Some(t)) if t <= since))
            })
            .await?
        };
        if !stale {
            return Ok(false);
        }
        self.write(move |c| {
            let n = c.execute(
                "UPDATE registrations SET last_used_at = ?2, expires_at = MAX(expires_at, ?3) \
                 WHERE client_id = ?1 AND (last_used_at IS NULL OR last_used_at <= ?4)",
                params![id, now, until, since],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn create_initial_access_token(
        &self,
        hash: &TokenHash,
        uses: Option<u32>,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<()> {
        let hash = hash.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO initial_access_tokens (hash, uses_left, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![hash, uses, now, expires_at],
            )?;
            Ok(())
        })
        .await
    }
}
