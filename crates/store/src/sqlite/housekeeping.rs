//! The purge of records that no longer matter.

use rusqlite::{Connection, params};

use super::{BUSY_TIMEOUT, CODE_REPLAY_MEMORY, immediate};
use crate::{DEVICE_CODE_MEMORY, REFRESH_SUCCESSOR_MEMORY, Result, UnixTime};

/// Deletes at most `batch` rows per table (signing keys excepted: a handful, all at once)
/// and forgets at most `batch` successors. The count includes the forgotten successors, so
/// that a caller purging until it gets 0 also finishes forgetting them.
pub(super) fn purge_expired(c: &mut Connection, now: UnixTime, batch: u32) -> Result<u64> {
    let tx = immediate(c)?;
    let mut n = 0;
    // (table, its key, rows that expired before this go). Each uses its expiry index.
    let expired: [(&str, &str, UnixTime); 10] = [
        ("revoked_tokens", "jti", now),
        ("authorization_codes", "hash", now - CODE_REPLAY_MEMORY),
        ("revoked_grants", "grant_id", now),
        ("grants", "grant_id", now),
        ("refresh_tokens", "hash", now),
        ("opaque_access_tokens", "hash", now),
        ("sessions", "id_hash", now),
        ("throttle", "key", now),
        ("used_forms", "id", now),
        ("device_codes", "device_hash", now - DEVICE_CODE_MEMORY),
    ];
    for (table, key, before) in expired {
        n += tx
            .prepare_cached(&format!(
                "DELETE FROM {table} WHERE {key} IN \
                   (SELECT {key} FROM {table} WHERE expires_at < ?1 LIMIT ?2)"
            ))?
            .execute(params![before, batch])?;
    }
    // Past the retry window a rotated token's successor (the sealed response) is only a
    // liability; the row stays, so that a replay is still recognised as one.
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
}

/// How long readiness waits for another connection's write lock: a probe gives up after
/// about a second, and a node whose writes wait longer is not ready to take traffic.
const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Readiness: one committed write (the `heartbeat` row). It fails on a read-only or full
/// database, and when another connection holds the write lock for longer than
/// `READY_WAIT`.
pub(super) fn heartbeat(c: &mut Connection, now: UnixTime) -> Result<()> {
    c.busy_timeout(READY_WAIT)?;
    let written = c
        .prepare_cached(
            "INSERT INTO heartbeat (id, at) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET at = excluded.at",
        )
        .and_then(|mut s| s.execute(params![now]));
    c.busy_timeout(BUSY_TIMEOUT)?;
    written?;
    Ok(())
}
