//! Attempt counters (`crate::throttle`) on PostgreSQL: in one transaction the rows are
//! created if missing, locked in key order (`FOR UPDATE`, so two nodes cannot deadlock on
//! the same keys), decided in Rust and written back. A racer waits for the row lock and
//! then decides on the winner's count.

use async_trait::async_trait;
use sqlx::Row;

use super::PostgresStore;
use crate::throttle::{ThrottleDecision, ThrottleRule, ThrottleState};
use crate::{Result, Throttle, UnixTime};

#[async_trait]
impl Throttle for PostgresStore {
    async fn throttle_attempt(
        &self,
        rules: &[ThrottleRule],
        now: UnixTime,
    ) -> Result<ThrottleDecision> {
        self.timed(async {
            let mut sorted: Vec<&ThrottleRule> = rules.iter().collect();
            sorted.sort_by(|a, b| a.key.cmp(&b.key));
            sorted.dedup_by(|a, b| a.key == b.key);
            let mut tx = self.pool.begin().await?;
            let mut next = Vec::with_capacity(sorted.len());
            let mut refused: Option<i64> = None;
            for rule in sorted {
                // A row that expired reads as absent: `apply` starts a fresh window for it.
                sqlx::query(
                    "INSERT INTO throttle (key, window_start, count, next_at, expires_at) \
                     VALUES ($1, $2, 0, $2, $2) ON CONFLICT (key) DO NOTHING",
                )
                .bind(&rule.key)
                .bind(i64::MIN / 2)
                .execute(&mut *tx)
                .await?;
                let row = sqlx::query(
                    "SELECT window_start, count, next_at FROM throttle WHERE key = $1 FOR UPDATE",
                )
                .bind(&rule.key)
                .fetch_one(&mut *tx)
                .await?;
                let s = ThrottleState {
                    window_start: row.try_get(0)?,
                    count: u32::try_from(row.try_get::<i64, _>(1)?).unwrap_or(u32::MAX),
                    next_at: row.try_get(2)?,
                };
                match rule.apply(Some(s), now) {
                    Ok(s) => next.push((rule, s)),
                    Err(wait) => refused = Some(refused.map_or(wait, |w| w.max(wait))),
                }
            }
            if let Some(retry_after) = refused {
                tx.rollback().await?;
                return Ok(ThrottleDecision::Refused { retry_after });
            }
            for (rule, s) in next {
                sqlx::query(
                    "UPDATE throttle SET window_start = $2, count = $3, next_at = $4, \
                     expires_at = $5 WHERE key = $1",
                )
                .bind(&rule.key)
                .bind(s.window_start)
                .bind(i64::from(s.count))
                .bind(s.next_at)
                .bind(rule.expires_at(&s))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(ThrottleDecision::Allowed)
        })
        .await
    }

    async fn throttle_refund(&self, keys: &[String]) -> Result<()> {
        self.timed(async {
            let mut sorted: Vec<&String> = keys.iter().collect();
            sorted.sort();
            let mut tx = self.pool.begin().await?;
            for key in sorted {
                sqlx::query("UPDATE throttle SET count = count - 1 WHERE key = $1 AND count > 0")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn throttle_mark(&self, key: &str, now: UnixTime, until: UnixTime) -> Result<()> {
        self.timed(async {
            sqlx::query(
                "INSERT INTO throttle (key, window_start, count, next_at, expires_at) \
                 VALUES ($1, $2, 0, $2, $3) \
                 ON CONFLICT (key) DO UPDATE \
                 SET expires_at = GREATEST(throttle.expires_at, EXCLUDED.expires_at)",
            )
            .bind(key)
            .bind(now)
            .bind(until)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn throttle_marked(&self, key: &str, now: UnixTime) -> Result<bool> {
        self.timed(async {
            Ok(
                sqlx::query("SELECT 1 FROM throttle WHERE key = $1 AND expires_at > $2")
                    .bind(key)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?
                    .is_some(),
            )
        })
        .await
    }
}
