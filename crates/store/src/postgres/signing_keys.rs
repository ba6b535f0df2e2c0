//! Signing keys (PostgreSQL). Same rules as `sqlite/signing_keys`.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use valet_protocol::keys::KeyTimes;

use super::PostgresStore;
use crate::model::SigningKeyRecord;
use crate::{Result, SigningKeys, UnixTime};

const KEY_COLUMNS: &str =
    "kid, alg, sealed_private, public_jwk, created_at, activates_at, publish_until";

fn key_record(r: &PgRow) -> Result<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        times: KeyTimes {
            kid: r.try_get(0)?,
            alg: r.try_get(1)?,
            created_at: r.try_get(4)?,
            activates_at: r.try_get(5)?,
            publish_until: r.try_get(6)?,
        },
        sealed_private: r.try_get(2)?,
        public_jwk: r.try_get(3)?,
    })
}

async fn insert_key(c: &mut PgConnection, k: &SigningKeyRecord) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO signing_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&k.times.kid)
    .bind(&k.times.alg)
    .bind(&k.sealed_private)
    .bind(&k.public_jwk)
    .bind(k.times.created_at)
    .bind(k.times.activates_at)
    .bind(k.times.publish_until)
    .execute(c)
    .await?;
    Ok(())
}

/// The advisory lock that serialises "insert the first key of an algorithm": under READ
/// COMMITTED an `INSERT … WHERE NOT EXISTS` alone lets two nodes starting together both
/// insert, so the check and the insert run under this transaction-scoped lock.
const FIRST_KEY_LOCK: i64 = 0x7661_6c65_746b_6579; // "valetkey"

#[async_trait]
impl SigningKeys for PostgresStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid"
            ))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(key_record)
            .collect()
        })
        .await
    }

    async fn insert_first_signing_key(&self, k: &SigningKeyRecord) -> Result<bool> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(FIRST_KEY_LOCK)
                .execute(&mut *tx)
                .await?;
            let exists = sqlx::query("SELECT 1 FROM signing_keys WHERE alg = $1 LIMIT 1")
                .bind(&k.times.alg)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if exists {
                return Ok(false);
            }
            insert_key(&mut tx, k).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    async fn rotate_signing_key(
        &self,
        k: &SigningKeyRecord,
        retire: &[(String, UnixTime)],
    ) -> Result<()> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            for (kid, until) in retire {
                sqlx::query(
                    "UPDATE signing_keys SET publish_until = $2 \
                     WHERE kid = $1 AND publish_until IS NULL",
                )
                .bind(kid)
                .bind(until)
                .execute(&mut *tx)
                .await?;
            }
            insert_key(&mut tx, k).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn revoke_signing_key(&self, kid: &str, now: UnixTime) -> Result<bool> {
        self.timed(async {
            let n = sqlx::query(
                "UPDATE signing_keys SET publish_until = $2 \
                 WHERE kid = $1 AND (publish_until IS NULL OR publish_until > $2)",
            )
            .bind(kid)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
        .await
    }
}
