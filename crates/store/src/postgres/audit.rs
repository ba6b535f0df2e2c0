//! The audit trail (PostgreSQL). Same rules as `sqlite/audit`.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use crate::{Audit, AuditQuery, AuditRecord, Result, UnixTime};

const COLUMNS: &str = "id, at, actor, address, action, target, changes, request_id";

fn record(r: &PgRow) -> Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.try_get(0)?,
        at: r.try_get(1)?,
        actor: r.try_get(2)?,
        address: r.try_get(3)?,
        action: r.try_get(4)?,
        target: r.try_get(5)?,
        changes: r.try_get(6)?,
        request_id: r.try_get(7)?,
    })
}

#[async_trait]
impl Audit for PostgresStore {
    async fn record_audit(&self, events: &[AuditRecord]) -> Result<()> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            for e in events {
                sqlx::query(
                    "INSERT INTO audit_events \
                     (at, actor, address, action, target, changes, request_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(e.at)
                .bind(&e.actor)
                .bind(&e.address)
                .bind(&e.action)
                .bind(&e.target)
                .bind(&e.changes)
                .bind(&e.request_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn audit_events(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM audit_events \
                 WHERE ($1::bigint IS NULL OR at >= $1) AND ($2::bigint IS NULL OR at <= $2) \
                   AND ($3::text IS NULL OR actor = $3) \
                   AND ($4::text IS NULL OR left(action, length($4)) = $4) \
                   AND ($5::text IS NULL OR target = $5) AND ($6::bigint IS NULL OR id < $6) \
                   AND ($8::text IS NULL OR request_id = $8) \
                 ORDER BY id DESC LIMIT $7"
            ))
            .bind(q.since)
            .bind(q.until)
            .bind(&q.actor)
            .bind(&q.action)
            .bind(&q.target)
            .bind(q.before)
            .bind(i64::from(q.limit))
            .bind(&q.request_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(record)
            .collect()
        })
        .await
    }

    async fn purge_audit(&self, before: UnixTime, batch: u32) -> Result<u64> {
        self.timed(async {
            Ok(sqlx::query(
                "DELETE FROM audit_events WHERE id IN \
                 (SELECT id FROM audit_events WHERE at < $1 ORDER BY id LIMIT $2)",
            )
            .bind(before)
            .bind(i64::from(batch))
            .execute(&self.pool)
            .await?
            .rows_affected())
        })
        .await
    }
}
