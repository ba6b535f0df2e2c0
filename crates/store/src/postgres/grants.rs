//! Authorization codes, grants and their revocations (PostgreSQL). Same rules as
//! `sqlite/grants`; under READ COMMITTED a racing `UPDATE … WHERE consumed_at IS NULL`
//! waits for the row lock of the one before it and then re-checks its WHERE, so exactly
//! one statement ever matches.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::PostgresStore;
use crate::model::{CodeRecord, CodeUse, GrantRecord};
use crate::{GrantScope, GrantState, Grants, Result, TokenHash, UnixTime};

const GRANT_COLUMNS: &str = "grant_id, client_id, user_id, scope, session, created_at, expires_at";

fn grant_record(r: &PgRow) -> Result<GrantRecord> {
    Ok(GrantRecord {
        grant_id: r.try_get(0)?,
        client_id: r.try_get(1)?,
        user_id: r.try_get(2)?,
        scope: r.try_get(3)?,
        session: r.try_get(4)?,
        created_at: r.try_get(5)?,
        expires_at: r.try_get(6)?,
    })
}

const CODE_COLUMNS: &str = "hash, client_id, grant_id, details, expires_at";

fn code_record(r: &PgRow) -> Result<CodeRecord> {
    Ok(CodeRecord {
        hash: r.try_get(0)?,
        client_id: r.try_get(1)?,
        grant_id: r.try_get(2)?,
        details: r.try_get(3)?,
        expires_at: r.try_get(4)?,
    })
}

#[async_trait]
impl Grants for PostgresStore {
    async fn insert_code(&self, code: &CodeRecord, grant: Option<&GrantRecord>) -> Result<()> {
        debug_assert!(
            grant.is_none_or(|g| g.grant_id == code.grant_id),
            "a code starts the grant it names"
        );
        self.timed(async {
            // One statement (one round trip): a conflict on either row fails both.
            let code_insert = format!(
                "INSERT INTO authorization_codes ({CODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
            );
            let sql = if grant.is_some() {
                format!(
                    "WITH g AS (INSERT INTO grants ({GRANT_COLUMNS}) \
                       VALUES ($3, $6, $7, $8, $9, $10, $11) RETURNING 1) {code_insert}"
                )
            } else {
                code_insert
            };
            let q = sqlx::query(&sql)
                .bind(&code.hash)
                .bind(&code.client_id)
                .bind(&code.grant_id)
                .bind(&code.details)
                .bind(code.expires_at);
            let q = match grant {
                Some(g) => q
                    .bind(&g.client_id)
                    .bind(&g.user_id)
                    .bind(&g.scope)
                    .bind(&g.session)
                    .bind(g.created_at)
                    .bind(g.expires_at),
                None => q,
            };
            q.execute(&self.pool).await?;
            Ok(())
        })
        .await
    }

    async fn insert_grant(&self, grant: &GrantRecord) -> Result<()> {
        self.timed(async {
            let mut c = self.pool.acquire().await?;
            insert_grant(&mut c, grant).await
        })
        .await
    }

    async fn grant(&self, grant_id: &str) -> Result<Option<GrantRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {GRANT_COLUMNS} FROM grants WHERE grant_id = $1"
            ))
            .bind(grant_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(grant_record)
            .transpose()
        })
        .await
    }

    async fn consume_code(&self, hash: &TokenHash, now: UnixTime) -> Result<CodeUse> {
        self.timed(async {
            // The single statement that decides who redeems the code, and reads the
            // grant's standing in the same statement, before it commits: a racer's UPDATE
            // waits for this row lock until then, so a replay can revoke the grant only
            // after the winner has read it. One round trip.
            let fresh = sqlx::query(
                "WITH c AS (UPDATE authorization_codes SET consumed_at = $2 \
                   WHERE hash = $1 AND consumed_at IS NULL AND expires_at > $2 \
                   RETURNING hash, client_id, grant_id, details, expires_at) \
                 SELECT c.hash, c.client_id, c.grant_id, c.details, c.expires_at, \
                   EXISTS (SELECT 1 FROM grants WHERE grant_id = c.grant_id), \
                   EXISTS (SELECT 1 FROM revoked_grants WHERE grant_id = c.grant_id), \
                   EXISTS (SELECT 1 FROM grants g \
                           WHERE g.grant_id = c.grant_id AND g.session IS NOT NULL \
                           AND NOT EXISTS (SELECT 1 FROM sessions s \
                                           WHERE s.id_hash = g.session \
                                           AND s.expires_at > $2)) \
                 FROM c",
            )
            .bind(hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(r) = fresh {
                let standing = GrantState {
                    exists: r.try_get(5)?,
                    revoked: r.try_get(6)?,
                    session_ended: r.try_get(7)?,
                };
                return Ok(CodeUse::Fresh(code_record(&r)?, standing));
            }
            let used = sqlx::query(&format!(
                "SELECT {CODE_COLUMNS} FROM authorization_codes \
                 WHERE hash = $1 AND consumed_at IS NOT NULL"
            ))
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
            Ok(match used {
                Some(r) => CodeUse::Replayed(code_record(&r)?),
                None => CodeUse::Unknown,
            })
        })
        .await
    }

    async fn revoke_grant(&self, grant_id: &str, until: UnixTime) -> Result<()> {
        self.timed(async {
            sqlx::query(
                "INSERT INTO revoked_grants (grant_id, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (grant_id) DO UPDATE \
                 SET expires_at = GREATEST(revoked_grants.expires_at, excluded.expires_at)",
            )
            .bind(grant_id)
            .bind(until)
            .execute(&self.pool)
            .await?;
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
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {GRANT_COLUMNS} FROM grants g \
                 WHERE g.expires_at > $1 \
                   AND NOT EXISTS (SELECT 1 FROM revoked_grants r WHERE r.grant_id = g.grant_id) \
                   AND ($2::text IS NULL OR g.user_id = $2) AND ($3::text IS NULL OR g.client_id = $3) \
                   AND ($4::text IS NULL OR (g.created_at, g.grant_id) < \
                        (SELECT created_at, grant_id FROM grants WHERE grant_id = $4)) \
                 ORDER BY g.created_at DESC, g.grant_id DESC LIMIT $5"
            ))
            .bind(now)
            .bind(user_id)
            .bind(client_id)
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(grant_record)
            .collect()
        })
        .await
    }

    async fn grant_scope(&self, grant_id: &str) -> Result<GrantScope> {
        self.timed(async {
            let r = sqlx::query(
                "SELECT EXISTS (SELECT 1 FROM revoked_grants WHERE grant_id = $1), \
                 (SELECT scope FROM grants WHERE grant_id = $1), \
                 (SELECT scope_changed_at FROM grants WHERE grant_id = $1)",
            )
            .bind(grant_id)
            .fetch_one(&self.pool)
            .await?;
            let scope: Option<String> = r.try_get(1)?;
            let at: Option<i64> = r.try_get(2)?;
            Ok(GrantScope {
                revoked: r.try_get(0)?,
                narrowed: scope.zip(at),
            })
        })
        .await
    }

    async fn is_grant_revoked(&self, grant_id: &str) -> Result<bool> {
        self.timed(async {
            Ok(
                sqlx::query("SELECT 1 FROM revoked_grants WHERE grant_id = $1")
                    .bind(grant_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .is_some(),
            )
        })
        .await
    }
}

/// Inserts the grant row on `c`, within the caller's transaction if it is one.
pub(super) async fn insert_grant(c: &mut PgConnection, g: &GrantRecord) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO grants ({GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&g.grant_id)
    .bind(&g.client_id)
    .bind(&g.user_id)
    .bind(&g.scope)
    .bind(&g.session)
    .bind(g.created_at)
    .bind(g.expires_at)
    .execute(c)
    .await?;
    Ok(())
}

/// Which grants a bulk revocation reaches.
pub(super) enum GrantsOf<'a> {
    /// Every grant of a user to an application (consent withdrawn).
    UserAndClient(&'a str, &'a str),
    /// Every grant of an application (the admin's "revoke all").
    Client(&'a str),
    /// Every grant of a user (disabled, deleted, signed out everywhere).
    User(&'a str),
    /// The grants a logout ends: made in the session (its id hash) without
    /// `offline_access`. Scope is space-delimited, so padding it with spaces lets
    /// `strpos` match whole tokens only (not `LIKE`, which reads `_` as any character).
    LoggedOutSession(&'a TokenHash),
    /// One grant (its scope withdrawn to nothing).
    One(&'a str),
    /// Every grant of a user not made in the session given (any, without one): a new
    /// password.
    UserOutside(&'a str, Option<&'a TokenHash>),
}

/// Revokes every grant `which` selects whose tokens are not all expired at `now`, each
/// until its own `expires_at`. Returns how many revocations this wrote: a grant already
/// revoked at least as long is not counted again.
pub(super) async fn revoke_grants_where(
    c: &mut PgConnection,
    which: GrantsOf<'_>,
    now: UnixTime,
) -> Result<u64> {
    let filter = match which {
        GrantsOf::UserAndClient(..) => "user_id = $2 AND client_id = $3",
        GrantsOf::Client(_) => "client_id = $2",
        GrantsOf::User(_) => "user_id = $2",
        GrantsOf::LoggedOutSession(_) => {
            "session = $2 AND strpos(' ' || scope || ' ', ' offline_access ') = 0"
        }
        GrantsOf::One(_) => "grant_id = $2",
        GrantsOf::UserOutside(..) => {
            "user_id = $2 AND ($3::BYTEA IS NULL OR session IS NULL OR session <> $3)"
        }
    };
    let sql = format!(
        "INSERT INTO revoked_grants (grant_id, expires_at) \
         SELECT grant_id, expires_at FROM grants WHERE expires_at > $1 AND ({filter}) \
         ON CONFLICT (grant_id) DO UPDATE SET expires_at = excluded.expires_at \
         WHERE excluded.expires_at > revoked_grants.expires_at"
    );
    let q = sqlx::query(&sql).bind(now);
    let q = match which {
        GrantsOf::UserAndClient(user, client) => q.bind(user).bind(client),
        GrantsOf::Client(client) => q.bind(client),
        GrantsOf::User(user) => q.bind(user),
        GrantsOf::LoggedOutSession(session) => q.bind(session),
        GrantsOf::One(id) => q.bind(id),
        GrantsOf::UserOutside(user, keep) => q.bind(user).bind(keep),
    };
    Ok(q.execute(c).await?.rows_affected())
}
