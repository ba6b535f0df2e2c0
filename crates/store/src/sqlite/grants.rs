//! Authorization codes, grants and their revocations.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, immediate};
use crate::model::{CodeRecord, CodeUse, GrantRecord};
use crate::{GrantScope, GrantState, Grants, Result, TokenHash, UnixTime};

const GRANT_COLUMNS: &str = "grant_id, client_id, user_id, scope, session, created_at, expires_at";

fn grant_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<GrantRecord> {
    Ok(GrantRecord {
        grant_id: r.get(0)?,
        client_id: r.get(1)?,
        user_id: r.get(2)?,
        scope: r.get(3)?,
        session: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
    })
}

fn code_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CodeRecord> {
    Ok(CodeRecord {
        hash: r.get(0)?,
        client_id: r.get(1)?,
        grant_id: r.get(2)?,
        details: r.get(3)?,
        expires_at: r.get(4)?,
    })
}

/// The standing at `?2` of the grant `?1` names: (exists, revoked, session ended).
const GRANT_STANDING: &str = "SELECT \
       EXISTS (SELECT 1 FROM grants WHERE grant_id = ?1), \
       EXISTS (SELECT 1 FROM revoked_grants WHERE grant_id = ?1), \
       EXISTS (SELECT 1 FROM grants g WHERE g.grant_id = ?1 AND g.session IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM sessions s \
                               WHERE s.id_hash = g.session AND s.expires_at > ?2))";

#[async_trait]
impl Grants for SqliteStore {
    async fn insert_code(&self, code: &CodeRecord, grant: Option<&GrantRecord>) -> Result<()> {
        debug_assert!(
            grant.is_none_or(|g| g.grant_id == code.grant_id),
            "a code starts the grant it names"
        );
        let code = code.clone();
        let grant = grant.cloned();
        self.write(move |c| {
            // A conflict on either row rolls back both (the transaction drops uncommitted).
            let tx = immediate(c)?;
            if let Some(g) = &grant {
                insert_grant(&tx, g)?;
            }
            tx.prepare_cached(
                "INSERT INTO authorization_codes (hash, client_id, grant_id, details, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                code.hash,
                code.client_id,
                code.grant_id,
                code.details,
                code.expires_at
            ])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn insert_grant(&self, grant: &GrantRecord) -> Result<()> {
        let grant = grant.clone();
        self.write(move |c| insert_grant(c, &grant)).await
    }

    async fn grant(&self, grant_id: &str) -> Result<Option<GrantRecord>> {
        let id = grant_id.to_owned();
        self.point_read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {GRANT_COLUMNS} FROM grants WHERE grant_id = ?1"
            ))?
            .query_row([id], grant_row)
            .optional()?)
        })
        .await
    }

    async fn consume_code(&self, hash: &TokenHash, now: UnixTime) -> Result<CodeUse> {
        let hash = hash.clone();
        self.write(move |c| {
            // The write lock is held from the start, so no replay's revocation (another
            // write) can come between the redemption and the reading of the grant's standing.
            let tx = immediate(c)?;
            // The single statement that decides who redeems the code.
            let fresh = tx
                .prepare_cached(
                    "UPDATE authorization_codes SET consumed_at = ?2 \
                     WHERE hash = ?1 AND consumed_at IS NULL AND expires_at > ?2 \
                     RETURNING hash, client_id, grant_id, details, expires_at",
                )?
                .query_row(params![hash, now], code_row)
                .optional()?;
            if let Some(code) = fresh {
                let standing = tx.prepare_cached(GRANT_STANDING)?.query_row(
                    params![code.grant_id, now],
                    |r| {
                        Ok(GrantState {
                            exists: r.get(0)?,
                            revoked: r.get(1)?,
                            session_ended: r.get(2)?,
                        })
                    },
                )?;
                tx.commit()?;
                return Ok(CodeUse::Fresh(code, standing));
            }
            let used = tx
                .prepare_cached(
                    "SELECT hash, client_id, grant_id, details, expires_at \
                     FROM authorization_codes WHERE hash = ?1 AND consumed_at IS NOT NULL",
                )?
                .query_row([&hash], code_row)
                .optional()?;
            tx.commit()?;
            Ok(used.map_or(CodeUse::Unknown, CodeUse::Replayed))
        })
        .await
    }

    async fn revoke_grant(&self, grant_id: &str, until: UnixTime) -> Result<()> {
        let id = grant_id.to_owned();
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO revoked_grants (grant_id, expires_at) VALUES (?1, ?2) \
                 ON CONFLICT (grant_id) DO UPDATE \
                 SET expires_at = max(expires_at, excluded.expires_at)",
            )?
            .execute(params![id, until])?;
            Ok(())
        })
        .await
    }

    async fn live_grants(
        &self,
        user_id: Option<&str>,
        client_id: Option<&str>,
        now: UnixTime,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<GrantRecord>> {
        let (user, client, before) = (
            user_id.map(str::to_owned),
            client_id.map(str::to_owned),
            before.map(str::to_owned),
        );
        self.read(move |c| {
            // The cursor is a grant id; its (created_at, grant_id) orders the pages.
            let sql = format!(
                "SELECT {GRANT_COLUMNS} FROM grants g \
                 WHERE g.expires_at > ?1 \
                   AND NOT EXISTS (SELECT 1 FROM revoked_grants r WHERE r.grant_id = g.grant_id) \
                   AND (?2 IS NULL OR g.user_id = ?2) AND (?3 IS NULL OR g.client_id = ?3) \
                   AND (?4 IS NULL OR (g.created_at, g.grant_id) < \
                        (SELECT created_at, grant_id FROM grants WHERE grant_id = ?4)) \
                 ORDER BY g.created_at DESC, g.grant_id DESC LIMIT ?5"
            );
            Ok(c.prepare_cached(&sql)?
                .query_map(params![now, user, client, before, limit], grant_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn grant_scope(&self, grant_id: &str) -> Result<GrantScope> {
        let id = grant_id.to_owned();
        self.point_read(move |c| {
            let (revoked, scope, at) = c
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM revoked_grants WHERE grant_id = ?1), \
                     (SELECT scope FROM grants WHERE grant_id = ?1), \
                     (SELECT scope_changed_at FROM grants WHERE grant_id = ?1)",
                )?
                .query_row([id], |r| {
                    Ok((
                        r.get::<_, bool>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                    ))
                })?;
            Ok(GrantScope {
                revoked,
                narrowed: scope.zip(at),
            })
        })
        .await
    }

    async fn is_grant_revoked(&self, grant_id: &str) -> Result<bool> {
        let id = grant_id.to_owned();
        self.point_read(move |c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM revoked_grants WHERE grant_id = ?1")?
                    .exists([id])?,
            )
        })
        .await
    }
}

/// Inserts the grant row; the caller's transaction, if any, commits it.
pub(super) fn insert_grant(c: &Connection, g: &GrantRecord) -> Result<()> {
    c.prepare_cached(&format!(
        "INSERT INTO grants ({GRANT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?
    .execute(params![
        g.grant_id,
        g.client_id,
        g.user_id,
        g.scope,
        g.session,
        g.created_at,
        g.expires_at
    ])?;
    Ok(())
}

/// Revokes every grant that `filter` (SQL over `grants`, from this crate, never input)
/// selects and whose tokens are not all expired at `now` (bound as `?1`), each until its
/// own `expires_at`. Returns how many revocations this wrote: a grant already revoked at
/// least as long is not counted again.
pub(super) fn revoke_grants_where(
    c: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<u64> {
    // `WHERE … ON CONFLICT`: an INSERT … SELECT needs its WHERE for SQLite to parse the
    // upsert. The DO UPDATE's WHERE makes a revocation that would not last longer a no-op,
    // which also keeps it out of the count.
    let n = c
        .prepare_cached(&format!(
            "INSERT INTO revoked_grants (grant_id, expires_at) \
             SELECT grant_id, expires_at FROM grants WHERE expires_at > ?1 AND ({filter}) \
             ON CONFLICT (grant_id) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE excluded.expires_at > revoked_grants.expires_at"
        ))?
        .execute(params)?;
    Ok(n as u64)
}
