//! Device codes of the device authorization grant (PostgreSQL). Same rules as
//! `sqlite/device`; a racing `UPDATE … WHERE redeemed_at IS NULL` waits for the winner's
//! row lock, re-reads the row (READ COMMITTED) and matches nothing.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{PostgresStore, grants};
use crate::model::{DeviceCodeRecord, DeviceDecision, DeviceStatus};
use crate::{DeviceCodes, Result, StoreError, TokenHash, UnixTime};

const COLUMNS: &str = "device_hash, user_code_hash, client_id, details, status, user_id, \
                       auth_time, grant_id, poll_interval, last_poll_at, created_at, \
                       expires_at, redeemed_at, amr";

fn record(r: &PgRow) -> Result<DeviceCodeRecord> {
    let status: String = r.try_get(4)?;
    Ok(DeviceCodeRecord {
        device_hash: r.try_get(0)?,
        user_code_hash: r.try_get(1)?,
        client_id: r.try_get(2)?,
        details: r.try_get(3)?,
        status: DeviceStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("device code status `{status}`")))?,
        user_id: r.try_get(5)?,
        auth_time: r.try_get(6)?,
        grant_id: r.try_get(7)?,
        interval: r.try_get(8)?,
        last_poll_at: r.try_get(9)?,
        created_at: r.try_get(10)?,
        expires_at: r.try_get(11)?,
        redeemed_at: r.try_get(12)?,
        amr: r
            .try_get::<String, _>(13)?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    })
}

#[async_trait]
impl DeviceCodes for PostgresStore {
    async fn insert_device_code(&self, d: &DeviceCodeRecord) -> Result<()> {
        self.timed(async {
            sqlx::query(&format!(
                "INSERT INTO device_codes ({COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            ))
            .bind(&d.device_hash)
            .bind(&d.user_code_hash)
            .bind(&d.client_id)
            .bind(&d.details)
            .bind(d.status.as_str())
            .bind(&d.user_id)
            .bind(d.auth_time)
            .bind(&d.grant_id)
            .bind(d.interval)
            .bind(d.last_poll_at)
            .bind(d.created_at)
            .bind(d.expires_at)
            .bind(d.redeemed_at)
            .bind(d.amr.join(" "))
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn device_code(&self, device_hash: &TokenHash) -> Result<Option<DeviceCodeRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM device_codes WHERE device_hash = $1"
            ))
            .bind(device_hash)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(record)
            .transpose()
        })
        .await
    }

    async fn pending_device_code(
        &self,
        user_code_hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<DeviceCodeRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM device_codes \
                 WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $2"
            ))
            .bind(user_code_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(record)
            .transpose()
        })
        .await
    }

    async fn decide_device_code(
        &self,
        user_code_hash: &TokenHash,
        client_id: &str,
        decision: &DeviceDecision,
        now: UnixTime,
    ) -> Result<bool> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            let changed = match decision {
                DeviceDecision::Approve {
                    grant,
                    auth_time,
                    amr,
                } => {
                    let n = sqlx::query(
                        "UPDATE device_codes SET status = 'approved', user_id = $3, \
                         auth_time = $4, grant_id = $5, amr = $7 \
                         WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $2 \
                         AND client_id = $6",
                    )
                    .bind(user_code_hash)
                    .bind(now)
                    .bind(&grant.user_id)
                    .bind(auth_time)
                    .bind(&grant.grant_id)
                    .bind(client_id)
                    .bind(amr.join(" "))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if n == 1 {
                        grants::insert_grant(&mut tx, grant).await?;
                    }
                    n == 1
                }
                DeviceDecision::Deny => {
                    sqlx::query(
                        "UPDATE device_codes SET status = 'denied' \
                         WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $2 \
                         AND client_id = $3",
                    )
                    .bind(user_code_hash)
                    .bind(now)
                    .bind(client_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1
                }
            };
            tx.commit().await?;
            Ok(changed)
        })
        .await
    }

    async fn record_device_poll(
        &self,
        device_hash: &TokenHash,
        seen: UnixTime,
        interval: i64,
        now: UnixTime,
    ) -> Result<bool> {
        self.timed(async {
            Ok(sqlx::query(
                "UPDATE device_codes SET last_poll_at = $3, poll_interval = $4 \
                 WHERE device_hash = $1 AND last_poll_at = $2 AND redeemed_at IS NULL",
            )
            .bind(device_hash)
            .bind(seen)
            .bind(now)
            .bind(interval)
            .execute(&self.pool)
            .await?
            .rows_affected()
                == 1)
        })
        .await
    }

    async fn redeem_device_code(
        &self,
        device_hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<DeviceCodeRecord>> {
        self.timed(async {
            // The single statement that decides who redeems the device code.
            sqlx::query(&format!(
                "UPDATE device_codes SET redeemed_at = $2, last_poll_at = $2 \
                 WHERE device_hash = $1 AND status = 'approved' AND redeemed_at IS NULL \
                 AND expires_at > $2 \
                 RETURNING {COLUMNS}"
            ))
            .bind(device_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(record)
            .transpose()
        })
        .await
    }
}
