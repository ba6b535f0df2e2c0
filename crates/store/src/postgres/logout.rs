//! Back-Channel Logout deliveries (PostgreSQL). Same rules as `sqlite/logout`; claims
//! skip rows another node holds (`FOR UPDATE SKIP LOCKED`).

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::PostgresStore;
use crate::{
    LOGOUT_DELIVERY_MEMORY, LogoutDeliveries, LogoutDelivery, Result, TokenHash, UnixTime,
};

/// Whose logout is queued.
pub(super) enum EndedFor<'a> {
    Session(&'a TokenHash),
    User(&'a str),
    /// The user's grants not made in the session given (any, without one).
    UserOutside(&'a str, Option<&'a TokenHash>),
}

/// As `sqlite/logout::enqueue_where`: one row per (application, user, session) holding a
/// live, unrevoked grant; before the grants are revoked, in the logout's transaction.
pub(super) async fn enqueue(c: &mut PgConnection, who: EndedFor<'_>, now: UnixTime) -> Result<()> {
    let filter = match who {
        EndedFor::Session(_) => "g.session = $2",
        EndedFor::User(_) => "g.user_id = $2",
        EndedFor::UserOutside(..) => {
            "g.user_id = $2 AND ($3::BYTEA IS NULL OR g.session IS NULL OR g.session <> $3)"
        }
    };
    let sql = format!(
        "INSERT INTO logout_deliveries (client_id, user_id, session, attempts, next_at, expires_at) \
         SELECT DISTINCT g.client_id, g.user_id, g.session, 0, $1, $1 + {LOGOUT_DELIVERY_MEMORY} \
         FROM grants g \
         WHERE g.expires_at > $1 \
           AND NOT EXISTS (SELECT 1 FROM revoked_grants r WHERE r.grant_id = g.grant_id) \
           AND ({filter})"
    );
    let q = sqlx::query(&sql).bind(now);
    let q = match who {
        EndedFor::Session(h) => q.bind(h),
        EndedFor::User(u) => q.bind(u),
        EndedFor::UserOutside(u, keep) => q.bind(u).bind(keep),
    };
    q.execute(c).await?;
    Ok(())
}

fn record(r: &PgRow) -> Result<LogoutDelivery> {
    Ok(LogoutDelivery {
        id: r.try_get(0)?,
        client_id: r.try_get(1)?,
        user_id: r.try_get(2)?,
        session: r.try_get(3)?,
        attempts: u32::try_from(r.try_get::<i64, _>(4)?).unwrap_or(u32::MAX),
        expires_at: r.try_get(5)?,
    })
}

#[async_trait]
impl LogoutDeliveries for PostgresStore {
    async fn claim_logout_deliveries(
        &self,
        now: UnixTime,
        lease: i64,
        limit: u32,
    ) -> Result<Vec<LogoutDelivery>> {
        self.timed(async {
            sqlx::query(
                "UPDATE logout_deliveries SET attempts = attempts + 1, next_at = $1 + $2 \
                 WHERE id IN (SELECT id FROM logout_deliveries \
                              WHERE next_at <= $1 AND expires_at > $1 \
                              ORDER BY next_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, client_id, user_id, session, attempts, expires_at",
            )
            .bind(now)
            .bind(lease)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(record)
            .collect()
        })
        .await
    }

    async fn finish_logout_delivery(&self, id: i64) -> Result<()> {
        self.timed(async {
            sqlx::query("DELETE FROM logout_deliveries WHERE id = $1")
                .bind(id)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
        .await
    }

    async fn retry_logout_delivery(&self, id: i64, next_at: UnixTime) -> Result<()> {
        self.timed(async {
            sqlx::query("UPDATE logout_deliveries SET next_at = $2 WHERE id = $1")
                .bind(id)
                .bind(next_at)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
        .await
    }
}
