//! Opaque access tokens: stored by hash at issuance, looked up at every check, deleted on
//! revocation (purged by `housekeeping` once expired).

use rusqlite::{Connection, OptionalExtension, params};

use super::immediate;
use crate::model::OpaqueAccessTokenRecord;
use crate::{Result, UnixTime};

const COLUMNS: &str = "hash, client_id, subject, grant_id, claims, issued_at, expires_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OpaqueAccessTokenRecord> {
    Ok(OpaqueAccessTokenRecord {
        hash: r.get(0)?,
        client_id: r.get(1)?,
        subject: r.get(2)?,
        grant_id: r.get(3)?,
        claims: r.get(4)?,
        issued_at: r.get(5)?,
        expires_at: r.get(6)?,
    })
}

pub(super) fn insert(c: &mut Connection, t: &OpaqueAccessTokenRecord) -> Result<()> {
    let tx = immediate(c)?;
    tx.prepare_cached(&format!(
        "INSERT INTO opaque_access_tokens ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?
    .execute(params![
        t.hash,
        t.client_id,
        t.subject,
        t.grant_id,
        t.claims,
        t.issued_at,
        t.expires_at
    ])?;
    if let Some(grant_id) = &t.grant_id {
        // The grant, and its revocation if any, last at least as long as the token: a
        // grant purged (or a revocation forgotten) before its last token expired could no
        // longer kill that token.
        tx.prepare_cached(
            "UPDATE grants SET expires_at = max(expires_at, ?2) WHERE grant_id = ?1",
        )?
        .execute(params![grant_id, t.expires_at])?;
        tx.prepare_cached(
            "UPDATE revoked_grants SET expires_at = max(expires_at, ?2) WHERE grant_id = ?1",
        )?
        .execute(params![grant_id, t.expires_at])?;
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn get(
    c: &Connection,
    hash: &[u8],
    now: UnixTime,
) -> Result<Option<OpaqueAccessTokenRecord>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM opaque_access_tokens WHERE hash = ?1 AND expires_at > ?2"
    ))?
    .query_row(params![hash, now], row)
    .optional()?)
}

pub(super) fn revoke(c: &Connection, hash: &[u8]) -> Result<bool> {
    Ok(
        c.prepare_cached("DELETE FROM opaque_access_tokens WHERE hash = ?1")?
            .execute([hash])?
            == 1,
    )
}
