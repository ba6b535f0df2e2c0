//! Consents, and withdrawing them (PostgreSQL). Same rules as `sqlite/consents`.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use super::grants::{GrantsOf, revoke_grants_where};
use crate::model::ConsentRecord;
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
