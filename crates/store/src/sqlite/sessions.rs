//! Browser sessions (single sign-on), logout, and the sealed forms they submit.

use rusqlite::{Connection, OptionalExtension, params};

use super::grants::revoke_grants_where;
use super::immediate;
use crate::model::SessionRecord;
use crate::{Result, UnixTime};

const COLUMNS: &str = "id_hash, user_id, auth_time, created_at, expires_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id_hash: r.get(0)?,
        user_id: r.get(1)?,
        auth_time: r.get(2)?,
        created_at: r.get(3)?,
        expires_at: r.get(4)?,
    })
}

pub(super) fn create(c: &mut Connection, s: &SessionRecord, replaces: Option<&[u8]>) -> Result<()> {
    let tx = immediate(c)?;
    if let Some(old) = replaces {
        tx.prepare_cached("DELETE FROM sessions WHERE id_hash = ?1")?
            .execute([old])?;
    }
    tx.prepare_cached(&format!(
        "INSERT INTO sessions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"
    ))?
    .execute(params![
        s.id_hash,
        s.user_id,
        s.auth_time,
        s.created_at,
        s.expires_at
    ])?;
    tx.commit()?;
    Ok(())
}

pub(super) fn get(c: &Connection, id_hash: &[u8], now: UnixTime) -> Result<Option<SessionRecord>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE id_hash = ?1 AND expires_at > ?2"
    ))?
    .query_row(params![id_hash, now], row)
    .optional()?)
}

/// The grants a logout ends: made in the session (`?2`) without `offline_access`. Scope is
/// space-delimited, so padding it with spaces lets `instr` match whole tokens only
/// (`instr`, not `LIKE`: LIKE ignores case and reads `_` as any character).
const ENDED_BY_LOGOUT: &str = "session = ?2 AND instr(' ' || scope || ' ', ' offline_access ') = 0";

pub(super) fn end(c: &mut Connection, id_hash: &[u8], now: UnixTime) -> Result<bool> {
    let tx = immediate(c)?;
    let ended = tx
        .prepare_cached("DELETE FROM sessions WHERE id_hash = ?1")?
        .execute([id_hash])?
        == 1;
    // The session's grants end with it even if the session row already expired and went:
    // logging out ends what was signed in.
    revoke_grants_where(&tx, ENDED_BY_LOGOUT, params![now, id_hash])?;
    tx.commit()?;
    Ok(ended)
}

/// The single statement that decides which submit of a sealed form counts.
pub(super) fn consume_sealed_form(c: &Connection, id: &str, expires_at: UnixTime) -> Result<bool> {
    let n = c
        .prepare_cached(
            "INSERT INTO used_forms (id, expires_at) VALUES (?1, ?2) \
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![id, expires_at])?;
    Ok(n == 1)
}
