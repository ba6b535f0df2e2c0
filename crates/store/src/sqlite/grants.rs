//! Authorization codes, grants, revocations and consents.

use rusqlite::{Connection, OptionalExtension, params};

use super::immediate;
use crate::model::{CodeRecord, CodeUse, ConsentRecord, GrantRecord};
use crate::{GrantState, Result, UnixTime};

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

const CONSENT_COLUMNS: &str = "user_id, client_id, scope, created_at, updated_at";

fn consent_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConsentRecord> {
    Ok(ConsentRecord {
        user_id: r.get(0)?,
        client_id: r.get(1)?,
        scope: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
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

// ---- revocation of JWT access tokens ----

pub(super) fn revoke_access_token(c: &Connection, jti: &str, expires_at: UnixTime) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO revoked_tokens (jti, expires_at) VALUES (?1, ?2) \
         ON CONFLICT (jti) DO NOTHING",
    )?
    .execute(params![jti, expires_at])?;
    Ok(())
}

pub(super) fn is_access_token_revoked(c: &Connection, jti: &str) -> Result<bool> {
    Ok(
        c.prepare_cached("SELECT 1 FROM revoked_tokens WHERE jti = ?1")?
            .exists([jti])?,
    )
}

// ---- codes and grants ----

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

pub(super) fn insert_code(
    c: &mut Connection,
    code: &CodeRecord,
    grant: Option<&GrantRecord>,
) -> Result<()> {
    debug_assert!(
        grant.is_none_or(|g| g.grant_id == code.grant_id),
        "a code starts the grant it names"
    );
    // A conflict on either row rolls back both (the transaction drops uncommitted).
    let tx = immediate(c)?;
    if let Some(g) = grant {
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
}

pub(super) fn grant(c: &Connection, grant_id: &str) -> Result<Option<GrantRecord>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {GRANT_COLUMNS} FROM grants WHERE grant_id = ?1"
    ))?
    .query_row([grant_id], grant_row)
    .optional()?)
}

/// The standing at `?2` of the grant `?1` names: (exists, revoked, session ended).
const GRANT_STANDING: &str = "SELECT \
       EXISTS (SELECT 1 FROM grants WHERE grant_id = ?1), \
       EXISTS (SELECT 1 FROM revoked_grants WHERE grant_id = ?1), \
       EXISTS (SELECT 1 FROM grants g WHERE g.grant_id = ?1 AND g.session IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM sessions s \
                               WHERE s.id_hash = g.session AND s.expires_at > ?2))";

pub(super) fn consume_code(c: &mut Connection, hash: &[u8], now: UnixTime) -> Result<CodeUse> {
    // The write lock is held from the start, so no replay's revocation (another write)
    // can come between the redemption and the reading of the grant's standing.
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
        let standing =
            tx.prepare_cached(GRANT_STANDING)?
                .query_row(params![code.grant_id, now], |r| {
                    Ok(GrantState {
                        exists: r.get(0)?,
                        revoked: r.get(1)?,
                        session_ended: r.get(2)?,
                    })
                })?;
        tx.commit()?;
        return Ok(CodeUse::Fresh(code, standing));
    }
    let used = tx
        .prepare_cached(
            "SELECT hash, client_id, grant_id, details, expires_at \
             FROM authorization_codes WHERE hash = ?1 AND consumed_at IS NOT NULL",
        )?
        .query_row([hash], code_row)
        .optional()?;
    tx.commit()?;
    Ok(used.map_or(CodeUse::Unknown, CodeUse::Replayed))
}

pub(super) fn revoke_grant(c: &Connection, grant_id: &str, until: UnixTime) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO revoked_grants (grant_id, expires_at) VALUES (?1, ?2) \
         ON CONFLICT (grant_id) DO UPDATE \
         SET expires_at = max(expires_at, excluded.expires_at)",
    )?
    .execute(params![grant_id, until])?;
    Ok(())
}

pub(super) fn is_grant_revoked(c: &Connection, grant_id: &str) -> Result<bool> {
    Ok(
        c.prepare_cached("SELECT 1 FROM revoked_grants WHERE grant_id = ?1")?
            .exists([grant_id])?,
    )
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

// ---- consent ----

pub(super) fn consent(
    c: &Connection,
    user_id: &str,
    client_id: &str,
) -> Result<Option<ConsentRecord>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {CONSENT_COLUMNS} FROM consents WHERE user_id = ?1 AND client_id = ?2"
    ))?
    .query_row([user_id, client_id], consent_row)
    .optional()?)
}

pub(super) fn save_consent(c: &Connection, consent: &ConsentRecord) -> Result<()> {
    // An existing consent keeps when it was first given.
    c.prepare_cached(&format!(
        "INSERT INTO consents ({CONSENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (user_id, client_id) DO UPDATE \
         SET scope = excluded.scope, updated_at = excluded.updated_at"
    ))?
    .execute(params![
        consent.user_id,
        consent.client_id,
        consent.scope,
        consent.created_at,
        consent.updated_at
    ])?;
    Ok(())
}

pub(super) fn consents_of_user(c: &Connection, user_id: &str) -> Result<Vec<ConsentRecord>> {
    let rows = c
        .prepare_cached(&format!(
            "SELECT {CONSENT_COLUMNS} FROM consents WHERE user_id = ?1 \
             ORDER BY created_at, client_id"
        ))?
        .query_map([user_id], consent_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn revoke_consent(
    c: &mut Connection,
    user_id: &str,
    client_id: &str,
    now: UnixTime,
) -> Result<u64> {
    let tx = immediate(c)?;
    tx.prepare_cached("DELETE FROM consents WHERE user_id = ?1 AND client_id = ?2")?
        .execute([user_id, client_id])?;
    let n = revoke_grants_where(
        &tx,
        "user_id = ?2 AND client_id = ?3",
        params![now, user_id, client_id],
    )?;
    tx.commit()?;
    Ok(n)
}

pub(super) fn revoke_client_grants(
    c: &mut Connection,
    client_id: &str,
    now: UnixTime,
) -> Result<u64> {
    let tx = immediate(c)?;
    tx.prepare_cached("DELETE FROM consents WHERE client_id = ?1")?
        .execute([client_id])?;
    let n = revoke_grants_where(&tx, "client_id = ?2", params![now, client_id])?;
    tx.commit()?;
    Ok(n)
}
