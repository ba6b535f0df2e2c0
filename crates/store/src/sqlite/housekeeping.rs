//! The purge of records that no longer matter.

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, immediate};
use crate::{
    CODE_REPLAY_MEMORY, DEVICE_CODE_MEMORY, Housekeeping, REFRESH_SUCCESSOR_MEMORY, Result,
    UnixTime,
};

#[async_trait]
impl Housekeeping for SqliteStore {
    /// Deletes at most `batch` rows per table (signing keys excepted: a handful, all at
    /// once) and forgets at most `batch` successors. The count includes the forgotten
    /// successors, so that a caller purging until it gets 0 also finishes forgetting them.
    async fn purge_expired(&self, now: UnixTime, batch: u32) -> Result<u64> {
        self.write(move |c| {
            let tx = immediate(c)?;
            let mut n = 0;
            // Sessions that expired: their applications hear of it (Back-Channel Logout),
            // for the very sessions the delete below takes (same order, same limit).
            super::logout::enqueue_where(
                &tx,
                "g.session IN (SELECT id_hash FROM sessions WHERE expires_at < ?1 \
                 ORDER BY expires_at, id_hash LIMIT ?2)",
                params![now, batch],
            )?;
            n += tx
                .prepare_cached(
                    "DELETE FROM sessions WHERE id_hash IN (SELECT id_hash FROM sessions \
                     WHERE expires_at < ?1 ORDER BY expires_at, id_hash LIMIT ?2)",
                )?
                .execute(params![now, batch])?;
            // (table, its key's columns, rows that expired before this go). Each uses its expiry
            // index.
            let expired: [(&str, &str, UnixTime); 14] = [
                ("revoked_tokens", "jti", now),
                ("authorization_codes", "hash", now - CODE_REPLAY_MEMORY),
                ("revoked_grants", "grant_id", now),
                ("grants", "grant_id", now),
                ("refresh_tokens", "hash", now),
                ("opaque_access_tokens", "hash", now),
                ("logout_deliveries", "id", now),
                ("one_time_links", "hash", now),
                ("throttle", "key", now),
                ("used_forms", "id", now),
                ("used_once", "kind, id", now),
                ("pushed_requests", "hash", now),
                ("device_codes", "device_hash", now - DEVICE_CODE_MEMORY),
                ("initial_access_tokens", "hash", now),
            ];
            for (table, key, before) in expired {
                n += tx
                    .prepare_cached(&format!(
                        "DELETE FROM {table} WHERE ({key}) IN \
                           (SELECT {key} FROM {table} WHERE expires_at < ?1 LIMIT ?2)"
                    ))?
                    .execute(params![before, batch])?;
            }
            // Self-registered applications unused past their expiry (issue 14), their
            // registration row with them (ON DELETE CASCADE).
            n += tx
                .prepare_cached(
                    "DELETE FROM clients WHERE client_id IN \
                       (SELECT client_id FROM registrations WHERE expires_at < ?1 LIMIT ?2)",
                )?
                .execute(params![now, batch])?;
            // Signed-up users who never confirmed their address (issue 16): they could
            // never sign in, so the row is all they hold.
            n += tx
                .prepare_cached(
                    "DELETE FROM users WHERE id IN \
                       (SELECT id FROM users WHERE pending_until < ?1 LIMIT ?2)",
                )?
                .execute(params![now, batch])?;
            // Past the retry window a rotated token's successor (the sealed response) is
            // only a liability; the row stays, so that a replay is still recognised as one.
            n += tx
                .prepare_cached(
                    "UPDATE refresh_tokens SET successor = NULL WHERE hash IN \
                       (SELECT hash FROM refresh_tokens \
                        WHERE successor IS NOT NULL AND rotated_at < ?1 LIMIT ?2)",
                )?
                .execute(params![now - REFRESH_SUCCESSOR_MEMORY, batch])?;
            n += tx.execute(
                "DELETE FROM signing_keys WHERE publish_until IS NOT NULL AND publish_until < ?1",
                params![now],
            )?;
            tx.commit()?;
            Ok(n as u64)
        })
        .await
    }
}
