//! Back-Channel Logout deliveries (the outbox; `areas/logout_deliveries.rs`).

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::SqliteStore;
use crate::{LOGOUT_DELIVERY_MEMORY, LogoutDeliveries, LogoutDelivery, Result, UnixTime};

/// Queues a delivery for each application holding a live, unrevoked grant that `filter`
/// (SQL over `grants g`, from this crate, never input; `?1` is `now`) selects, once per
/// (application, user, session). Called before the grants are revoked, in the same
/// transaction as the logout.
pub(super) fn enqueue_where(
    c: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<()> {
    c.prepare_cached(&format!(
        "INSERT INTO logout_deliveries (client_id, user_id, session, attempts, next_at, expires_at) \
         SELECT DISTINCT g.client_id, g.user_id, g.session, 0, ?1, ?1 + {LOGOUT_DELIVERY_MEMORY} \
         FROM grants g \
         WHERE g.expires_at > ?1 \
           AND NOT EXISTS (SELECT 1 FROM revoked_grants r WHERE r.grant_id = g.grant_id) \
           AND ({filter})"
    ))?
    .execute(params)?;
    Ok(())
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LogoutDelivery> {
    Ok(LogoutDelivery {
        id: r.get(0)?,
        client_id: r.get(1)?,
        user_id: r.get(2)?,
        session: r.get(3)?,
        attempts: r.get(4)?,
        expires_at: r.get(5)?,
    })
}

#[async_trait]
impl LogoutDeliveries for SqliteStore {
    async fn claim_logout_deliveries(
        &self,
        now: UnixTime,
        lease: i64,
        limit: u32,
    ) -> Result<Vec<LogoutDelivery>> {
        self.write(move |c| {
            Ok(c.prepare_cached(
                "UPDATE logout_deliveries SET attempts = attempts + 1, next_at = ?1 + ?2 \
                 WHERE id IN (SELECT id FROM logout_deliveries \
                              WHERE next_at <= ?1 AND expires_at > ?1 \
                              ORDER BY next_at, id LIMIT ?3) \
                 RETURNING id, client_id, user_id, session, attempts, expires_at",
            )?
            .query_map(params![now, lease, limit], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn finish_logout_delivery(&self, id: i64) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM logout_deliveries WHERE id = ?1")?
                .execute([id])?;
            Ok(())
        })
        .await
    }

    async fn retry_logout_delivery(&self, id: i64, next_at: UnixTime) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached("UPDATE logout_deliveries SET next_at = ?2 WHERE id = ?1")?
                .execute(params![id, next_at])?;
            Ok(())
        })
        .await
    }
}
