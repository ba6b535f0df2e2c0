//! Consents, and withdrawing them (PostgreSQL). Same rules as `sqlite/consents`.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use super::grants::{GrantsOf, revoke_grants_where};
use crate::model::{ConsentRecord, scope_without};
use crate::{Consents, Result, UnixTime};

const CONSENT_COLUMNS: &str = "user_id, client_id, scope, created_at, updated_at";

fn consent_record(r: &PgRow) -> Result<ConsentRecord> {
    Ok(ConsentRecord {
        user_id: r.try_get(0)?,
        client_id: r.try_get(1)?,
        scope: r.try_get(2)?,
        created_at: r.try_get(3)?,
        updated_at: r.try_get(4)?,
    })
}

#[async_trait]
impl Consents for PostgresStore {
    async fn consent(&self, user_id: &str, client_id: &str) -> Result<Option<ConsentRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {CONSENT_COLUMNS} FROM consents WHERE user_id = $1 AND client_id = $2"
            ))
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(consent_record)
            .transpose()
        })
        .await
    }

    async fn save_consent(&self, consent: &ConsentRecord) -> Result<()> {
        self.timed(async {
            // An existing consent keeps when it was first given.
            sqlx::query(&format!(
                "INSERT INTO consents ({CONSENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (user_id, client_id) DO UPDATE \
                 SET scope = excluded.scope, updated_at = excluded.updated_at"
            ))
            .bind(&consent.user_id)
            .bind(&consent.client_id)
            .bind(&consent.scope)
            .bind(consent.created_at)
            .bind(consent.updated_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn consents_of_user(&self, user_id: &str) -> Result<Vec<ConsentRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {CONSENT_COLUMNS} FROM consents WHERE user_id = $1 \
                 ORDER BY created_at, client_id"
            ))
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(consent_record)
            .collect()
        })
        .await
    }

    async fn revoke_consent(&self, user_id: &str, client_id: &str, now: UnixTime) -> Result<u64> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
                .bind(user_id)
                .bind(client_id)
                .execute(&mut *tx)
                .await?;
            let n = revoke_grants_where(&mut tx, GrantsOf::UserAndClient(user_id, client_id), now)
                .await?;
            tx.commit().await?;
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
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            // Rows locked as read: a racing withdrawal waits, then reads what this one left.
            let held: Option<String> = sqlx::query_scalar(
                "SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2 FOR UPDATE",
            )
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(held) = held.filter(|h| h.split(' ').any(|t| t == scope)) else {
                return Ok(0);
            };
            sqlx::query(
                "UPDATE consents SET scope = $3, updated_at = $4 \
                 WHERE user_id = $1 AND client_id = $2",
            )
            .bind(user_id)
            .bind(client_id)
            .bind(scope_without(&held, scope))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let grants: Vec<(String, String)> = sqlx::query_as(
                "SELECT grant_id, scope FROM grants g \
                 WHERE user_id = $1 AND client_id = $2 AND expires_at > $3 \
                   AND strpos(' ' || scope || ' ', ' ' || $4 || ' ') > 0 \
                   AND NOT EXISTS (SELECT 1 FROM revoked_grants r WHERE r.grant_id = g.grant_id) \
                 FOR UPDATE",
            )
            .bind(user_id)
            .bind(client_id)
            .bind(now)
            .bind(scope)
            .fetch_all(&mut *tx)
            .await?;
            for (id, held) in &grants {
                let left = scope_without(held, scope);
                sqlx::query(
                    "UPDATE grants SET scope = $2, scope_changed_at = $3 WHERE grant_id = $1",
                )
                .bind(id)
                .bind(&left)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if left.is_empty() {
                    revoke_grants_where(&mut tx, GrantsOf::One(id), now).await?;
                }
            }
            tx.commit().await?;
            Ok(grants.len() as u64)
        })
        .await
    }

    async fn revoke_client_grants(&self, client_id: &str, now: UnixTime) -> Result<u64> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            sqlx::query("DELETE FROM consents WHERE client_id = $1")
                .bind(client_id)
                .execute(&mut *tx)
                .await?;
            let n = revoke_grants_where(&mut tx, GrantsOf::Client(client_id), now).await?;
            tx.commit().await?;
            Ok(n)
        })
        .await
    }
}
