//! The purge of records that no longer matter (PostgreSQL). Same rules as
//! `sqlite/housekeeping`, in separate short statements (each its own transaction, so no
//! long lock), and `SKIP LOCKED` so that nodes purging at once split the work instead of
//! queueing behind each other or behind live traffic.

use async_trait::async_trait;

use super::PostgresStore;
use crate::{
    CODE_REPLAY_MEMORY, DEVICE_CODE_MEMORY, Housekeeping, LOGOUT_DELIVERY_MEMORY,
    REFRESH_SUCCESSOR_MEMORY, Result, UnixTime,
};

#[async_trait]
impl Housekeeping for PostgresStore {
    async fn purge_expired(&self, now: UnixTime, batch: u32) -> Result<u64> {
        self.timed(async {
            let db = &self.pool;
            let batch = i64::from(batch);
            let mut n = 0;
            // Sessions that expired go, and their applications hear of it (Back-Channel
            // Logout) in the same statement.
            let gone: i64 = sqlx::query_scalar(&format!(
                "WITH gone AS (DELETE FROM sessions WHERE id_hash IN \
                   (SELECT id_hash FROM sessions WHERE expires_at < $1 LIMIT $2 \
                    FOR UPDATE SKIP LOCKED) RETURNING id_hash), \
                 queued AS (INSERT INTO logout_deliveries \
                   (client_id, user_id, session, attempts, next_at, expires_at) \
                   SELECT DISTINCT g.client_id, g.user_id, g.session, 0, $1, \
                          $1 + {LOGOUT_DELIVERY_MEMORY} \
                   FROM grants g JOIN gone ON g.session = gone.id_hash \
                   WHERE g.expires_at > $1 \
                     AND NOT EXISTS (SELECT 1 FROM revoked_grants r \
                                     WHERE r.grant_id = g.grant_id)) \
                 SELECT count(*) FROM gone"
            ))
            .bind(now)
            .bind(batch)
            .fetch_one(db)
            .await?;
            n += u64::try_from(gone).unwrap_or(0);
            let expired: [(&str, &str, UnixTime); 14] = [
                ("revoked_tokens", "jti", now),
                ("authorization_codes", "hash", now - CODE_REPLAY_MEMORY),
                ("revoked_grants", "grant_id", now),
                ("grants", "grant_id", now),
                ("refresh_tokens", "hash", now),
                ("logout_deliveries", "id", now),
                ("one_time_links", "hash", now),
                ("throttle", "key", now),
                ("used_forms", "id", now),
                ("used_once", "kind, id", now),
                ("pushed_requests", "hash", now),
                ("device_codes", "device_hash", now - DEVICE_CODE_MEMORY),
                ("opaque_access_tokens", "hash", now),
                ("initial_access_tokens", "hash", now),
            ];
            for (table, key, before) in expired {
                n += sqlx::query(&format!(
                    "DELETE FROM {table} WHERE ({key}) IN \
                       (SELECT {key} FROM {table} WHERE expires_at < $1 LIMIT $2 \
                        FOR UPDATE SKIP LOCKED)"
                ))
                .bind(before)
                .bind(batch)
                .execute(db)
                .await?
                .rows_affected();
            }
            // Self-registered applications unused past their expiry, their registration
            // row with them (ON DELETE CASCADE).
            n += sqlx::query(
                "DELETE FROM clients WHERE client_id IN \
                   (SELECT client_id FROM registrations WHERE expires_at < $1 LIMIT $2 \
                    FOR UPDATE SKIP LOCKED)",
            )
            .bind(now)
            .bind(batch)
            .execute(db)
            .await?
            .rows_affected();
            // Signed-up users who never confirmed their address (issue 16): they could
            // never sign in, so the row is all they hold.
            n += sqlx::query(
                "DELETE FROM users WHERE id IN \
                   (SELECT id FROM users WHERE pending_until < $1 LIMIT $2 \
                    FOR UPDATE SKIP LOCKED)",
            )
            .bind(now)
            .bind(batch)
            .execute(db)
            .await?
            .rows_affected();
            n += sqlx::query(
                "UPDATE refresh_tokens SET successor = NULL WHERE hash IN \
                   (SELECT hash FROM refresh_tokens \
                    WHERE successor IS NOT NULL AND rotated_at < $1 LIMIT $2 \
                    FOR UPDATE SKIP LOCKED)",
            )
            .bind(now - REFRESH_SUCCESSOR_MEMORY)
            .bind(batch)
            .execute(db)
            .await?
            .rows_affected();
            n += sqlx::query(
                "DELETE FROM signing_keys WHERE publish_until IS NOT NULL AND publish_until < $1",
            )
            .bind(now)
            .execute(db)
            .await?
            .rows_affected();
            Ok(n)
        })
        .await
    }
}
