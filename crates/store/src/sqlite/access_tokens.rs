//! Access tokens: the revocation list of JWT access tokens (by `jti`), and opaque access
//! tokens, stored by hash at issuance, looked up at every check, deleted on revocation
//! (purged by `housekeeping` once expired).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, immediate};
use crate::model::OpaqueAccessTokenRecord;
use crate::{AccessTokens, GrantScope, Result, TokenHash, UnixTime};

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

#[async_trait]
impl AccessTokens for SqliteStore {
    // ---- revocation of JWT access tokens ----

    async fn revoke_access_token(&self, jti: &str, expires_at: UnixTime) -> Result<()> {
        let jti = jti.to_owned();
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO revoked_tokens (jti, expires_at) VALUES (?1, ?2) \
                 ON CONFLICT (jti) DO NOTHING",
            )?
            .execute(params![jti, expires_at])?;
            Ok(())
        })
        .await
    }

    async fn is_access_token_revoked(&self, jti: &str) -> Result<bool> {
        let jti = jti.to_owned();
        self.point_read(move |c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM revoked_tokens WHERE jti = ?1")?
                    .exists([jti])?,
            )
        })
        .await
    }

    async fn access_token_standing(
        &self,
        jti: Option<&str>,
        grant_id: Option<&str>,
    ) -> Result<(bool, GrantScope)> {
        let (jti, grant) = (jti.map(str::to_owned), grant_id.map(str::to_owned));
        self.point_read(move |c| {
            let (revoked, grant_revoked, scope, at) = c
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = ?1), \
                 EXISTS (SELECT 1 FROM revoked_grants WHERE grant_id = ?2), \
                 (SELECT scope FROM grants WHERE grant_id = ?2), \
                 (SELECT scope_changed_at FROM grants WHERE grant_id = ?2)",
                )?
                .query_row(rusqlite::params![jti, grant], |r| {
                    Ok((
                        r.get::<_, bool>(0)?,
                        r.get::<_, bool>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                    ))
                })?;
            Ok((
                revoked,
                GrantScope {
                    revoked: grant_revoked,
                    narrowed: scope.zip(at),
                },
            ))
        })
        .await
    }

    // ---- opaque access tokens ----

    async fn insert_opaque_access_token(&self, token: &OpaqueAccessTokenRecord) -> Result<()> {
        let t = token.clone();
        self.write(move |c| {
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
                // The grant, and its revocation if any, last at least as long as the token:
                // a grant purged (or a revocation forgotten) before its last token expired
                // could no longer kill that token.
                tx.prepare_cached(
                    "UPDATE grants SET expires_at = max(expires_at, ?2) WHERE grant_id = ?1",
                )?
                .execute(params![grant_id, t.expires_at])?;
                tx.prepare_cached(
                    "UPDATE revoked_grants SET expires_at = max(expires_at, ?2) \
                     WHERE grant_id = ?1",
                )?
                .execute(params![grant_id, t.expires_at])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn opaque_access_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<OpaqueAccessTokenRecord>> {
        let hash = hash.clone();
        self.point_read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM opaque_access_tokens WHERE hash = ?1 AND expires_at > ?2"
            ))?
            .query_row(params![hash, now], row)
            .optional()?)
        })
        .await
    }

    async fn revoke_opaque_access_token(&self, hash: &TokenHash) -> Result<bool> {
        let hash = hash.clone();
        self.write(move |c| {
            Ok(
                c.prepare_cached("DELETE FROM opaque_access_tokens WHERE hash = ?1")?
                    .execute([hash])?
                    == 1,
            )
        })
        .await
    }
}
