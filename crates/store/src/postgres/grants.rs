//! Authorization codes, grants, revocations and consents (PostgreSQL). Same rules as
//! `sqlite/grants`; under READ COMMITTED a racing `UPDATE … WHERE consumed_at IS NULL`
//! waits for the row lock of the one before it and then re-checks its WHERE, so exactly
//! one statement ever matches.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

use crate::model::{CodeRecord, CodeUse, ConsentRecord, GrantRecord};
use crate::{GrantState, Result, UnixTime};

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

const CONSENT_COLUMNS: &str = "user_id, client_id, scope, created_at, updated_at";

fn consent_record(r: &PgRow) -> Result<ConsentRecord> {
    Ok(ConsentRecord {
        user_id: r.try_get(0)?,
        client_id: r.try_get(1)?,
        scope: r.try_get(2)?,
        created_at: r.try_get(3)?,
        updated_at: r.try_get(4)?,
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

// ---- revocation of JWT access tokens ----

pub(super) async fn revoke_access_token(
    db: &PgPool,
    jti: &str,
    expires_at: UnixTime,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) \
         ON CONFLICT (jti) DO NOTHING",
    )
    .bind(jti)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

pub(super) async fn is_access_token_revoked(db: &PgPool, jti: &str) -> Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM revoked_tokens WHERE jti = $1")
        .bind(jti)
        .fetch_optional(db)
        .await?
        .is_some())
}

// ---- codes and grants ----

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

pub(super) async fn insert_code(
    db: &PgPool,
    code: &CodeRecord,
    grant: Option<&GrantRecord>,
) -> Result<()> {
    debug_assert!(
        grant.is_none_or(|g| g.grant_id == code.grant_id),
        "a code starts the grant it names"
    );
    // A conflict on either row rolls back both (the transaction drops uncommitted).
    let mut tx = db.begin().await?;
    if let Some(g) = grant {
        insert_grant(&mut tx, g).await?;
    }
    sqlx::query(&format!(
        "INSERT INTO authorization_codes ({CODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
    ))
    .bind(&code.hash)
    .bind(&code.client_id)
    .bind(&code.grant_id)
    .bind(&code.details)
    .bind(code.expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn grant(db: &PgPool, grant_id: &str) -> Result<Option<GrantRecord>> {
    sqlx::query(&format!(
        "SELECT {GRANT_COLUMNS} FROM grants WHERE grant_id = $1"
    ))
    .bind(grant_id)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(grant_record)
    .transpose()
}

pub(super) async fn consume_code(db: &PgPool, hash: &[u8], now: UnixTime) -> Result<CodeUse> {
    // The single statement that decides who redeems the code. The winner reads its grant's
    // standing before it commits: a racer's UPDATE waits for this row lock until then, so
    // a replay can revoke the grant only after the winner has read it.
    let mut tx = db.begin().await?;
    let fresh = sqlx::query(&format!(
        "UPDATE authorization_codes SET consumed_at = $2 \
         WHERE hash = $1 AND consumed_at IS NULL AND expires_at > $2 \
         RETURNING {CODE_COLUMNS}"
    ))
    .bind(hash)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(r) = fresh {
        let code = code_record(&r)?;
        let s = sqlx::query(
            "SELECT \
               EXISTS (SELECT 1 FROM grants WHERE grant_id = $1), \
               EXISTS (SELECT 1 FROM revoked_grants WHERE grant_id = $1), \
               EXISTS (SELECT 1 FROM grants g WHERE g.grant_id = $1 AND g.session IS NOT NULL \
                       AND NOT EXISTS (SELECT 1 FROM sessions s \
                                       WHERE s.id_hash = g.session AND s.expires_at > $2))",
        )
        .bind(&code.grant_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let standing = GrantState {
            exists: s.try_get(0)?,
            revoked: s.try_get(1)?,
            session_ended: s.try_get(2)?,
        };
        tx.commit().await?;
        return Ok(CodeUse::Fresh(code, standing));
    }
    tx.commit().await?;
    let used = sqlx::query(&format!(
        "SELECT {CODE_COLUMNS} FROM authorization_codes \
         WHERE hash = $1 AND consumed_at IS NOT NULL"
    ))
    .bind(hash)
    .fetch_optional(db)
    .await?;
    Ok(match used {
        Some(r) => CodeUse::Replayed(code_record(&r)?),
        None => CodeUse::Unknown,
    })
}

pub(super) async fn revoke_grant(db: &PgPool, grant_id: &str, until: UnixTime) -> Result<()> {
    sqlx::query(
        "INSERT INTO revoked_grants (grant_id, expires_at) VALUES ($1, $2) \
         ON CONFLICT (grant_id) DO UPDATE \
         SET expires_at = GREATEST(revoked_grants.expires_at, excluded.expires_at)",
    )
    .bind(grant_id)
    .bind(until)
    .execute(db)
    .await?;
    Ok(())
}

pub(super) async fn is_grant_revoked(db: &PgPool, grant_id: &str) -> Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM revoked_grants WHERE grant_id = $1")
            .bind(grant_id)
            .fetch_optional(db)
            .await?
            .is_some(),
    )
}

/// Which grants a bulk revocation reaches.
pub(super) enum GrantsOf<'a> {
    /// Every grant of a user to an application (consent withdrawn).
    UserAndClient(&'a str, &'a str),
    /// Every grant of an application (the admin's "revoke all").
    Client(&'a str),
    /// The grants a logout ends: made in the session (its id hash) without
    /// `offline_access`. Scope is space-delimited, so padding it with spaces lets
    /// `strpos` match whole tokens only (not `LIKE`, which reads `_` as any character).
    LoggedOutSession(&'a [u8]),
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
        GrantsOf::LoggedOutSession(_) => {
            "session = $2 AND strpos(' ' || scope || ' ', ' offline_access ') = 0"
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
        GrantsOf::LoggedOutSession(session) => q.bind(session),
    };
    Ok(q.execute(c).await?.rows_affected())
}

// ---- consent ----

pub(super) async fn consent(
    db: &PgPool,
    user_id: &str,
    client_id: &str,
) -> Result<Option<ConsentRecord>> {
    sqlx::query(&format!(
        "SELECT {CONSENT_COLUMNS} FROM consents WHERE user_id = $1 AND client_id = $2"
    ))
    .bind(user_id)
    .bind(client_id)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(consent_record)
    .transpose()
}

pub(super) async fn save_consent(db: &PgPool, consent: &ConsentRecord) -> Result<()> {
    // An existing consent keeps when it was first given.
    sqlx::query(&format!(
        "INSERT INTO consents ({CONSENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (user_id, client_id) DO UPDATE \
         SET scope = excluded.scope, updated_at = excluded.updated_at"
    ))
    .bind(&consent.user_id)
    .bind(&consent.client_id)
    .bind(&consent.scope)
    .bind(consent.created_at)
    .bind(consent.updated_at)
    .execute(db)
    .await?;
    Ok(())
}

pub(super) async fn consents_of_user(db: &PgPool, user_id: &str) -> Result<Vec<ConsentRecord>> {
    sqlx::query(&format!(
        "SELECT {CONSENT_COLUMNS} FROM consents WHERE user_id = $1 \
         ORDER BY created_at, client_id"
    ))
    .bind(user_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(consent_record)
    .collect()
}

pub(super) async fn revoke_consent(
    db: &PgPool,
    user_id: &str,
    client_id: &str,
    now: UnixTime,
) -> Result<u64> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
        .bind(user_id)
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
    let n = revoke_grants_where(&mut tx, GrantsOf::UserAndClient(user_id, client_id), now).await?;
    tx.commit().await?;
    Ok(n)
}

pub(super) async fn revoke_client_grants(
    db: &PgPool,
    client_id: &str,
    now: UnixTime,
) -> Result<u64> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM consents WHERE client_id = $1")
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
    let n = revoke_grants_where(&mut tx, GrantsOf::Client(client_id), now).await?;
    tx.commit().await?;
    Ok(n)
}
