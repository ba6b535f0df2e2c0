//! Accounts at upstream identity providers (PostgreSQL). Same rules as
//! `sqlite/identities`.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use crate::{Identities, IdentityRecord, Result, UnixTime, UserRecord};

const COLUMNS: &str = "upstream, subject, user_id, email, refresh_token, created_at, last_used_at";

fn record(r: &PgRow) -> Result<IdentityRecord> {
    Ok(IdentityRecord {
        upstream: r.try_get(0)?,
        subject: r.try_get(1)?,
        user_id: r.try_get(2)?,
        email: r.try_get(3)?,
        refresh_token: r.try_get(4)?,
        created_at: r.try_get(5)?,
        last_used_at: r.try_get(6)?,
    })
}

async fn insert(c: &mut sqlx::PgConnection, i: &IdentityRecord) -> Result<bool> {
    Ok(sqlx::query(&format!(
        "INSERT INTO upstream_identities ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT DO NOTHING"
    ))
    .bind(&i.upstream)
    .bind(&i.subject)
    .bind(&i.user_id)
    .bind(&i.email)
    .bind(&i.refresh_token)
    .bind(i.created_at)
    .bind(i.last_used_at)
    .execute(&mut *c)
    .await?
    .rows_affected()
        == 1)
}

#[async_trait]
impl Identities for PostgresStore {
    async fn identity(&self, upstream: &str, subject: &str) -> Result<Option<IdentityRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM upstream_identities WHERE upstream = $1 AND subject = $2"
            ))
            .bind(upstream)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(record)
            .transpose()
        })
        .await
    }

    async fn identities_of_user(&self, user_id: &str) -> Result<Vec<IdentityRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM upstream_identities WHERE user_id = $1 \
                 ORDER BY upstream, subject"
            ))
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(record)
            .collect()
        })
        .await
    }

    async fn link_identity(&self, identity: &IdentityRecord) -> Result<bool> {
        self.timed(async {
            let mut c = self.pool.acquire().await?;
            insert(&mut c, identity).await
        })
        .await
    }

    async fn create_user_with_identity(
        &self,
        user: &UserRecord,
        identity: &IdentityRecord,
    ) -> Result<bool> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            if !insert(&mut tx, identity).await? {
                return Ok(false);
            }
            super::users::insert_user(&mut tx, user).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    async fn identity_used(
        &self,
        upstream: &str,
        subject: &str,
        email: Option<&str>,
        refresh_token: Option<&[u8]>,
        now: UnixTime,
    ) -> Result<bool> {
        self.timed(async {
            Ok(sqlx::query(
                "UPDATE upstream_identities SET last_used_at = $3, email = $4, \
                 refresh_token = COALESCE($5, refresh_token) WHERE upstream = $1 AND subject = $2",
            )
            .bind(upstream)
            .bind(subject)
            .bind(now)
            .bind(email)
            .bind(refresh_token)
            .execute(&self.pool)
            .await?
            .rows_affected()
                == 1)
        })
        .await
    }

    async fn unlink_identity(&self, user_id: &str, upstream: &str, subject: &str) -> Result<bool> {
        self.timed(async {
            Ok(sqlx::query(
                "DELETE FROM upstream_identities \
                 WHERE user_id = $1 AND upstream = $2 AND subject = $3",
            )
            .bind(user_id)
            .bind(upstream)
            .bind(subject)
            .execute(&self.pool)
            .await?
            .rows_affected()
                == 1)
        })
        .await
    }
}
