//! Browser sessions (single sign-on) and logout.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::grants::revoke_grants_where;
use super::{SqliteStore, immediate};
use crate::model::SessionRecord;
use crate::{Result, Sessions, TokenHash, UnixTime};

const COLUMNS: &str = "id_hash, user_id, auth_time, created_at, expires_at, amr, address, \
                        user_agent, last_used_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id_hash: r.get(0)?,
        user_id: r.get(1)?,
        auth_time: r.get(2)?,
        created_at: r.get(3)?,
        expires_at: r.get(4)?,
        amr: split_amr(&r.get::<_, String>(5)?),
        address: r.get(6)?,
        user_agent: r.get(7)?,
        last_used_at: r.get(8)?,
    })
}

/// The grants of the user `?2` not made in the session `?3` (any, when `?3` is NULL).
const OUTSIDE_SESSION: &str = "user_id = ?2 AND (?3 IS NULL OR session IS NULL OR session <> ?3)";

/// Ends one session in the caller's transaction, as `end_session` does; whether a row went.
fn end_one(tx: &rusqlite::Transaction<'_>, id_hash: &TokenHash, now: UnixTime) -> Result<bool> {
    let ended = tx
        .prepare_cached("DELETE FROM sessions WHERE id_hash = ?1")?
        .execute([id_hash])?
        == 1;
    // Its applications hear of it (Back-Channel Logout), before its grants end.
    super::logout::enqueue_where(tx, "g.session = ?2", params![now, id_hash])?;
    // The session's grants end with it even if the session row already expired and
    // went: logging out ends what was signed in.
    revoke_grants_where(tx, ENDED_BY_LOGOUT, params![now, id_hash])?;
    Ok(ended)
}

/// The grants a logout ends: made in the session (`?2`) without `offline_access`. Scope is
/// space-delimited, so padding it with spaces lets `instr` match whole tokens only
/// (`instr`, not `LIKE`: LIKE ignores case and reads `_` as any character).
/// The stored `amr` (space-delimited) as its values.
fn split_amr(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

const ENDED_BY_LOGOUT: &str = "session = ?2 AND instr(' ' || scope || ' ', ' offline_access ') = 0";

#[async_trait]
impl Sessions for SqliteStore {
    async fn create_session(
        &self,
        session: &SessionRecord,
        replaces: Option<&TokenHash>,
    ) -> Result<()> {
        let s = session.clone();
        let replaces = replaces.cloned();
        self.write(move |c| {
            let tx = immediate(c)?;
            if let Some(old) = &replaces {
                tx.prepare_cached("DELETE FROM sessions WHERE id_hash = ?1")?
                    .execute([old])?;
            }
            tx.prepare_cached(&format!(
                "INSERT INTO sessions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ))?
            .execute(params![
                s.id_hash,
                s.user_id,
                s.auth_time,
                s.created_at,
                s.expires_at,
                s.amr.join(" "),
                s.address,
                s.user_agent,
                s.last_used_at
            ])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn session(&self, id_hash: &TokenHash, now: UnixTime) -> Result<Option<SessionRecord>> {
        let id_hash = id_hash.clone();
        self.point_read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM sessions WHERE id_hash = ?1 AND expires_at > ?2"
            ))?
            .query_row(params![id_hash, now], row)
            .optional()?)
        })
        .await
    }

    async fn end_session(&self, id_hash: &TokenHash, now: UnixTime) -> Result<bool> {
        let id_hash = id_hash.clone();
        self.write(move |c| {
            let tx = immediate(c)?;
            let ended = end_one(&tx, &id_hash, now)?;
            tx.commit()?;
            Ok(ended)
        })
        .await
    }

    async fn touch_session(
        &self,
        id_hash: &TokenHash,
        now: UnixTime,
        interval: i64,
    ) -> Result<bool> {
        let id_hash = id_hash.clone();
        self.write(move |c| {
            Ok(c.prepare_cached(
                "UPDATE sessions SET last_used_at = ?2 \
                 WHERE id_hash = ?1 AND last_used_at <= ?2 - ?3 AND expires_at > ?2",
            )?
            .execute(params![id_hash, now, interval])?
                == 1)
        })
        .await
    }

    async fn end_sessions_of_user(
        &self,
        user_id: &str,
        keep: Option<&TokenHash>,
        every_grant: bool,
        now: UnixTime,
    ) -> Result<u64> {
        let user = user_id.to_owned();
        let keep = keep.cloned();
        self.write(move |c| {
            let tx = immediate(c)?;
            let ended = if every_grant {
                // Every grant outside `keep` ends, those of the sessions ending included:
                // their applications are queued once, before the grants are revoked.
                super::logout::enqueue_where(
                    &tx,
                    "g.user_id = ?2 AND (?3 IS NULL OR g.session IS NULL OR g.session <> ?3)",
                    params![now, user, keep],
                )?;
                let n = tx
                    .prepare_cached(
                        "DELETE FROM sessions WHERE user_id = ?1 AND (?2 IS NULL OR id_hash <> ?2)",
                    )?
                    .execute(params![user, keep])?;
                revoke_grants_where(&tx, OUTSIDE_SESSION, params![now, user, keep])?;
                n as u64
            } else {
                let ids = tx
                    .prepare_cached(
                        "SELECT id_hash FROM sessions WHERE user_id = ?1 \
                         AND (?2 IS NULL OR id_hash <> ?2)",
                    )?
                    .query_map(params![user, keep], |r| r.get::<_, TokenHash>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                for id in &ids {
                    end_one(&tx, id, now)?;
                }
                ids.len() as u64
            };
            tx.commit()?;
            Ok(ended)
        })
        .await
    }

    async fn sessions_of_user(&self, user_id: &str, now: UnixTime) -> Result<Vec<SessionRecord>> {
        let user = user_id.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM sessions WHERE user_id = ?1 AND expires_at > ?2 \
                 ORDER BY created_at DESC"
            ))?
            .query_map(params![user, now], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn count_sessions(&self, now: UnixTime) -> Result<u64> {
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT count(*) FROM sessions WHERE expires_at > ?1")?
                    .query_row([now], |r| r.get::<_, i64>(0))? as u64,
            )
        })
        .await
    }
}
