//! Refresh tokens and their rotation.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, immediate};
use crate::model::{GrantScope, RefreshTokenRecord, Rotation};
use crate::{RefreshTokens, Result, TokenHash, UnixTime};

const COLUMNS: &str = "hash, grant_id, client_id, user_id, details, issued_at, expires_at, \
     rotated_at, chain, generation";

/// A token by hash with its grant's standing (`Grants::grant_scope`), in one statement.
const STANDING: &str = "SELECT r.hash, r.grant_id, r.client_id, r.user_id, r.details, \
     r.issued_at, r.expires_at, r.rotated_at, r.chain, r.generation, \
     EXISTS (SELECT 1 FROM revoked_grants v WHERE v.grant_id = r.grant_id), \
     g.scope, g.scope_changed_at \
     FROM refresh_tokens r LEFT JOIN grants g ON g.grant_id = r.grant_id \
     WHERE r.hash = ?1 AND r.expires_at > ?2";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        hash: r.get(0)?,
        grant_id: r.get(1)?,
        client_id: r.get(2)?,
        user_id: r.get(3)?,
        details: r.get(4)?,
        issued_at: r.get(5)?,
        expires_at: r.get(6)?,
        rotated_at: r.get(7)?,
        chain: r.get(8)?,
        generation: r.get(9)?,
    })
}

/// Inserts the row and raises its grant to `grant_until`; the caller commits.
fn insert_in(tx: &Connection, t: &RefreshTokenRecord, grant_until: UnixTime) -> Result<()> {
    tx.prepare_cached(&format!(
        "INSERT INTO refresh_tokens ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    ))?
    .execute(params![
        t.hash,
        t.grant_id,
        t.client_id,
        t.user_id,
        t.details,
        t.issued_at,
        t.expires_at,
        t.rotated_at,
        t.chain,
        t.generation
    ])?;
    tx.prepare_cached("UPDATE grants SET expires_at = max(expires_at, ?2) WHERE grant_id = ?1")?
        .execute(params![t.grant_id, grant_until])?;
    // A revocation lasts as long as the grant's tokens: should a token be issued while the
    // grant is being revoked (the caller checked before the revocation committed), the
    // record must not be purged before that token expires.
    tx.prepare_cached(
        "UPDATE revoked_grants SET expires_at = max(expires_at, ?2) WHERE grant_id = ?1",
    )?
    .execute(params![t.grant_id, grant_until])?;
    Ok(())
}

#[async_trait]
impl RefreshTokens for SqliteStore {
    async fn insert_refresh_token(
        &self,
        token: &RefreshTokenRecord,
        grant_until: UnixTime,
    ) -> Result<()> {
        let token = token.clone();
        self.write(move |c| {
            let tx = immediate(c)?;
            insert_in(&tx, &token, grant_until)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn refresh_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<RefreshTokenRecord>> {
        let hash = hash.clone();
        self.point_read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM refresh_tokens WHERE hash = ?1 AND expires_at > ?2"
            ))?
            .query_row(params![hash, now], row)
            .optional()?)
        })
        .await
    }

    async fn refresh_token_standing(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<(RefreshTokenRecord, GrantScope)>> {
        let hash = hash.clone();
        self.point_read(move |c| {
            Ok(c.prepare_cached(STANDING)?
                .query_row(params![hash, now], |r| {
                    let scope: Option<String> = r.get(11)?;
                    let at: Option<i64> = r.get(12)?;
                    Ok((
                        row(r)?,
                        GrantScope {
                            revoked: r.get(10)?,
                            narrowed: scope.zip(at),
                        },
                    ))
                })
                .optional()?)
        })
        .await
    }

    async fn refresh_chain_head(
        &self,
        chain: &str,
        now: UnixTime,
    ) -> Result<Option<RefreshTokenRecord>> {
        let chain = chain.to_owned();
        self.point_read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM refresh_tokens WHERE chain = ?1 AND expires_at > ?2 \
                 ORDER BY generation DESC LIMIT 1"
            ))?
            .query_row(params![chain, now], row)
            .optional()?)
        })
        .await
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &TokenHash,
        new: &RefreshTokenRecord,
        successor: &[u8],
        grant_until: UnixTime,
        now: UnixTime,
    ) -> Result<Rotation> {
        let old_hash = old_hash.clone();
        let new = new.clone();
        let successor = successor.to_vec();
        self.write(move |c| {
            let tx = immediate(c)?;
            // The single statement that decides who rotates the token.
            let won = tx
                .prepare_cached(
                    "UPDATE refresh_tokens SET rotated_at = ?2, successor = ?3 \
                     WHERE hash = ?1 AND rotated_at IS NULL AND expires_at > ?2",
                )?
                .execute(params![old_hash, now, successor])?
                == 1;
            if won {
                insert_in(&tx, &new, grant_until)?;
                // The chain keeps its two newest tokens; `new` is one more than the token
                // it replaces.
                if let Some(chain) = &new.chain {
                    tx.prepare_cached(
                        "DELETE FROM refresh_tokens WHERE chain = ?1 AND generation < ?2",
                    )?
                    .execute(params![chain, new.generation - 1])?;
                }
                tx.commit()?;
                return Ok(Rotation::Rotated);
            }
            // Lost, or nothing to rotate; nothing was written. A rotated token reports its
            // rotation even once expired (until the purge deletes it), like a redeemed code
            // its replay.
            let found: Option<(Option<UnixTime>, Option<Vec<u8>>)> = tx
                .prepare_cached("SELECT rotated_at, successor FROM refresh_tokens WHERE hash = ?1")?
                .query_row([&old_hash], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            Ok(match found {
                Some((Some(at), successor)) => Rotation::AlreadyRotated { at, successor },
                _ => Rotation::Unknown,
            })
        })
        .await
    }
}
