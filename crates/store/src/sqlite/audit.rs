//! The audit trail.

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, immediate};
use crate::{Audit, AuditQuery, AuditRecord, Result, UnixTime};

const COLUMNS: &str = "id, at, actor, address, action, target, changes, request_id";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        address: r.get(3)?,
        action: r.get(4)?,
        target: r.get(5)?,
        changes: r.get(6)?,
        request_id: r.get(7)?,
    })
}

#[async_trait]
impl Audit for SqliteStore {
    async fn record_audit(&self, events: &[AuditRecord]) -> Result<()> {
        let events = events.to_vec();
        self.write(move |c| {
            let tx = immediate(c)?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO audit_events \
                     (at, actor, address, action, target, changes, request_id) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for e in &events {
                    stmt.execute(params![
                        e.at,
                        e.actor,
                        e.address,
                        e.action,
                        e.target,
                        e.changes,
                        e.request_id
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn audit_events(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let q = q.clone();
        self.read(move |c| {
            // `action` is a prefix: compared with substr, not LIKE (which reads `_` and `%`).
            let sql = format!(
                "SELECT {COLUMNS} FROM audit_events \
                 WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR at <= ?2) \
                   AND (?3 IS NULL OR actor = ?3) \
                   AND (?4 IS NULL OR substr(action, 1, length(?4)) = ?4) \
                   AND (?5 IS NULL OR target = ?5) AND (?6 IS NULL OR id < ?6) \
                   AND (?8 IS NULL OR request_id = ?8) \
                 ORDER BY id DESC LIMIT ?7"
            );
            Ok(c.prepare_cached(&sql)?
                .query_map(
                    params![
                        q.since,
                        q.until,
                        q.actor,
                        q.action,
                        q.target,
                        q.before,
                        q.limit,
                        q.request_id
                    ],
                    row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn purge_audit(&self, before: UnixTime, batch: u32) -> Result<u64> {
        self.write(move |c| {
            Ok(c.execute(
                "DELETE FROM audit_events WHERE id IN \
                 (SELECT id FROM audit_events WHERE at < ?1 ORDER BY id LIMIT ?2)",
                params![before, batch],
            )? as u64)
        })
        .await
    }
}
