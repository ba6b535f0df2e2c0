//! Device codes of the device authorization grant (RFC 8628).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, grants, immediate};
use crate::model::{DeviceCodeRecord, DeviceDecision, DeviceStatus};
use crate::{DeviceCodes, Result, StoreError, TokenHash, UnixTime};

const COLUMNS: &str = "device_hash, user_code_hash, client_id, details, status, user_id, \
                       auth_time, grant_id, poll_interval, last_poll_at, created_at, \
                       expires_at, redeemed_at, amr";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(DeviceCodeRecord, String)> {
    Ok((
        DeviceCodeRecord {
            device_hash: r.get(0)?,
            user_code_hash: r.get(1)?,
            client_id: r.get(2)?,
            details: r.get(3)?,
            status: DeviceStatus::Pending,
            user_id: r.get(5)?,
            auth_time: r.get(6)?,
            grant_id: r.get(7)?,
            interval: r.get(8)?,
            last_poll_at: r.get(9)?,
            created_at: r.get(10)?,
            expires_at: r.get(11)?,
            redeemed_at: r.get(12)?,
            amr: r
                .get::<_, String>(13)?
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        },
        r.get(4)?,
    ))
}

fn record((mut rec, status): (DeviceCodeRecord, String)) -> Result<DeviceCodeRecord> {
    rec.status = DeviceStatus::parse(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("device code status `{status}`")))?;
    Ok(rec)
}

#[async_trait]
impl DeviceCodes for SqliteStore {
    async fn insert_device_code(&self, code: &DeviceCodeRecord) -> Result<()> {
        let d = code.clone();
        self.write(move |c| {
            c.prepare_cached(&format!(
                "INSERT INTO device_codes ({COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
            ))?
            .execute(params![
                d.device_hash,
                d.user_code_hash,
                d.client_id,
                d.details,
                d.status.as_str(),
                d.user_id,
                d.auth_time,
                d.grant_id,
                d.interval,
                d.last_poll_at,
                d.created_at,
                d.expires_at,
                d.redeemed_at,
                d.amr.join(" ")
            ])?;
            Ok(())
        })
        .await
    }

    async fn device_code(&self, device_hash: &TokenHash) -> Result<Option<DeviceCodeRecord>> {
        let device_hash = device_hash.clone();
        self.point_read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM device_codes WHERE device_hash = ?1"
            ))?
            .query_row([device_hash], row)
            .optional()?
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
        let user_code_hash = user_code_hash.clone();
        self.point_read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM device_codes \
                 WHERE user_code_hash = ?1 AND status = 'pending' AND expires_at > ?2"
            ))?
            .query_row(params![user_code_hash, now], row)
            .optional()?
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
        let user_code_hash = user_code_hash.clone();
        let client_id = client_id.to_owned();
        let decision = decision.clone();
        self.write(move |c| {
            let tx = immediate(c)?;
            let changed = match &decision {
                DeviceDecision::Approve {
                    grant,
                    auth_time,
                    amr,
                } => {
                    let n = tx
                        .prepare_cached(
                            "UPDATE device_codes SET status = 'approved', user_id = ?3, \
                             auth_time = ?4, grant_id = ?5, amr = ?7 \
                             WHERE user_code_hash = ?1 AND status = 'pending' \
                             AND expires_at > ?2 AND client_id = ?6",
                        )?
                        .execute(params![
                            user_code_hash,
                            now,
                            grant.user_id,
                            auth_time,
                            grant.grant_id,
                            client_id,
                            amr.join(" ")
                        ])?;
                    if n == 1 {
                        grants::insert_grant(&tx, grant)?;
                    }
                    n == 1
                }
                DeviceDecision::Deny => {
                    tx.prepare_cached(
                        "UPDATE device_codes SET status = 'denied' \
                         WHERE user_code_hash = ?1 AND status = 'pending' AND expires_at > ?2 \
                         AND client_id = ?3",
                    )?
                    .execute(params![user_code_hash, now, client_id])?
                        == 1
                }
            };
            tx.commit()?;
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
        let device_hash = device_hash.clone();
        self.write(move |c| {
            Ok(c.prepare_cached(
                "UPDATE device_codes SET last_poll_at = ?3, poll_interval = ?4 \
                 WHERE device_hash = ?1 AND last_poll_at = ?2 AND redeemed_at IS NULL",
            )?
            .execute(params![device_hash, seen, now, interval])?
                == 1)
        })
        .await
    }

    async fn redeem_device_code(
        &self,
        device_hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<DeviceCodeRecord>> {
        let device_hash = device_hash.clone();
        self.write(move |c| {
            // The single statement that decides who redeems the device code.
            c.prepare_cached(&format!(
                "UPDATE device_codes SET redeemed_at = ?2, last_poll_at = ?2 \
                 WHERE device_hash = ?1 AND status = 'approved' AND redeemed_at IS NULL \
                 AND expires_at > ?2 \
                 RETURNING {COLUMNS}"
            ))?
            .query_row(params![device_hash, now], row)
            .optional()?
            .map(record)
            .transpose()
        })
        .await
    }
}
