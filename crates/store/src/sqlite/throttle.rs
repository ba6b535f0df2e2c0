//! Attempt counters (`crate::throttle`): read, decided in Rust, written back, inside one
//! `BEGIN IMMEDIATE` transaction, so concurrent attempts on any connection or process
//! are serialised by SQLite's write lock.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, immediate};
use crate::throttle::{ThrottleDecision, ThrottleRule, ThrottleState};
use crate::{Result, Throttle, UnixTime};

fn state(tx: &Connection, key: &str) -> Result<Option<ThrottleState>> {
    Ok(tx
        .prepare_cached("SELECT window_start, count, next_at FROM throttle WHERE key = ?1")?
        .query_row([key], |r| {
            Ok(ThrottleState {
                window_start: r.get(0)?,
                count: u32::try_from(r.get::<_, i64>(1)?).unwrap_or(u32::MAX),
                next_at: r.get(2)?,
            })
        })
        .optional()?)
}

#[async_trait]
impl Throttle for SqliteStore {
    async fn throttle_attempt(
        &self,
        rules: &[ThrottleRule],
        now: UnixTime,
    ) -> Result<ThrottleDecision> {
        let rules = rules.to_vec();
        self.write(move |c| {
            let tx = immediate(c)?;
            let mut next = Vec::with_capacity(rules.len());
            let mut refused: Option<i64> = None;
            for rule in &rules {
                match rule.apply(state(&tx, &rule.key)?, now) {
                    Ok(s) => next.push((rule, s)),
                    Err(wait) => refused = Some(refused.map_or(wait, |w| w.max(wait))),
                }
            }
            if let Some(retry_after) = refused {
                // Nothing written: a refused attempt costs the counters nothing.
                return Ok(ThrottleDecision::Refused { retry_after });
            }
            for (rule, s) in next {
                tx.prepare_cached(
                    "INSERT INTO throttle (key, window_start, count, next_at, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (key) DO UPDATE SET window_start = excluded.window_start, \
                       count = excluded.count, next_at = excluded.next_at, \
                       expires_at = excluded.expires_at",
                )?
                .execute(params![
                    rule.key,
                    s.window_start,
                    s.count,
                    s.next_at,
                    rule.expires_at(&s)
                ])?;
            }
            tx.commit()?;
            Ok(ThrottleDecision::Allowed)
        })
        .await
    }

    async fn throttle_refund(&self, keys: &[String]) -> Result<()> {
        let keys = keys.to_vec();
        self.write(move |c| {
            let tx = immediate(c)?;
            for key in &keys {
                tx.prepare_cached(
                    "UPDATE throttle SET count = count - 1 WHERE key = ?1 AND count > 0",
                )?
                .execute([key])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn throttle_mark(&self, key: &str, now: UnixTime, until: UnixTime) -> Result<()> {
        let key = key.to_owned();
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO throttle (key, window_start, count, next_at, expires_at) \
                 VALUES (?1, ?2, 0, ?2, ?3) \
                 ON CONFLICT (key) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)",
            )?
            .execute(params![key, now, until])?;
            Ok(())
        })
        .await
    }

    async fn throttle_marked(&self, key: &str, now: UnixTime) -> Result<bool> {
        let key = key.to_owned();
        self.point_read(move |c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM throttle WHERE key = ?1 AND expires_at > ?2")?
                    .query_row(params![key, now], |_| Ok(()))
                    .optional()?
                    .is_some(),
            )
        })
        .await
    }
}
