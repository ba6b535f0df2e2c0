//! Consents, and withdrawing them (which revokes the grants they covered).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::grants::revoke_grants_where;
use super::{SqliteStore, immediate};
use crate::model::{ConsentRecord, scope_without};
use crate::{Consents, Result, UnixTime};

const CONSENT_COLUMNS: &str = "user_id, client_id, scope, created_at, updated_at";

fn consent_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConsentRecord> {
    Ok(ConsentRecord {
        user_id: r.get(0)?,
        client_id: r.get(1)?,
        scope: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

#[async_trait]
impl Consents for SqliteStore {
    async fn consent(&self, user_id: &str, client_id: &str) -> Result<Option<ConsentRecord>> {
        let (user, client) = (user_id.to_owned(), client_id.to_owned());
        self.point_read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {CONSENT_COLUMNS} FROM consents WHERE user_id = ?1 AND client_id = ?2"
            ))?
            .query_row([user, client], consent_row)
            .optional()?)
        })
        .await
    }

    async fn save_consent(&self, consent: &ConsentRecord) -> Result<()> {
        let consent = consent.clone();
        self.write(move |c| {
            // An existing consent keeps when it was first given.
            c.prepare_cached(&format!(
                "INSERT INTO consents ({CONSENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (user_id, client_id) DO UPDATE \
                 SET scope = excluded.scope, updated_at = excluded.updated_at"
            ))?
            .execute(params![
                consent.user_id,
                consent.client_id,
                consent.scope,
                consent.created_at,
                consent.updated_at
            ])?;
            Ok(())
        })
        .await
    }

    async fn consents_of_user(&self, user_id: &str) -> Result<Vec<ConsentRecord>> {
        let user = user_id.to_owned();
        self.read(move |c| {
            let rows = c
                .prepare_cached(&format!(
                    "SELECT {CONSENT_COLUMNS} FROM consents WHERE user_id = ?1 \
                     ORDER BY created_at, client_id"
                ))?
                .query_map([user], consent_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn revoke_consent(&self, user_id: &str, client_id: &str, now: UnixTime) -> Result<u64> {
        let (user, client) = (user_id.to_owned(), client_id.to_owned());
        self.write(move |c| {
            let tx = immediate(c)?;
            tx.prepare_cached("DELETE FROM consents WHERE user_id = ?1 AND client_id = ?2")?
                .execute([&user, &client])?;
            let n = revoke_grants_where(
                &tx,
                "user_id = ?2 AND client_id = ?3",
                params![now, user, client],
            )?;
            tx.commit()?;
            Ok(n)
        })
        .await
    }

    async fn withdraw_scope(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: UnixTime,
    ) -> Result<u64> {
        let (user, client, scope) = (user_id.to_owned(), client_id.to_owned(), scope.to_owned());
        self.write(move |c| {
            let tx = immediate(c)?;
            let held: Option<String> = tx
                .prepare_cached("SELECT scope FROM consents WHERE user_id = ?1 AND client_id = ?2")?
                .query_row([&user, &client], |r| r.get(0))
                .optional()?;
            let Some(held) = held.filter(|h| h.split(' ').any(|t| t == scope)) else {
                return Ok(0);
            };
            tx.prepare_cached(
                "UPDATE consents SET scope = ?3, updated_at = ?4 \
                 WHERE user_id = ?1 AND client_id = ?2",
            )?
            .execute(params![user, client, scope_without(&held, &scope), now])?;
            let grants = tx
                .prepare_cached(
                    "SELECT grant_id, scope FROM grants g \
                     WHERE user_id = ?1 AND client_id = ?2 AND expires_at > ?3 \
                       AND instr(' ' || scope || ' ', ' ' || ?4 || ' ') > 0 \
                       AND NOT EXISTS (SELECT 1 FROM revoked_grants r WHERE r.grant_id = g.grant_id)",
                )?
                .query_map(params![user, client, now, scope], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (id, held) in &grants {
                let left = scope_without(held, &scope);
                tx.prepare_cached(
                    "UPDATE grants SET scope = ?2, scope_changed_at = ?3 WHERE grant_id = ?1",
                )?
                .execute(params![id, left, now])?;
                if left.is_empty() {
                    revoke_grants_where(&tx, "grant_id = ?2", params![now, id])?;
                }
            }
            tx.commit()?;
            Ok(grants.len() as u64)
        })
        .await
    }

    async fn revoke_client_grants(&self, client_id: &str, now: UnixTime) -> Result<u64> {
        let client = client_id.to_owned();
        self.write(move |c| {
            let tx = immediate(c)?;
            tx.prepare_cached("DELETE FROM consents WHERE client_id = ?1")?
                .execute([&client])?;
            let n = revoke_grants_where(&tx, "client_id = ?2", params![now, client])?;
            tx.commit()?;
            Ok(n)
        })
        .await
    }
}
