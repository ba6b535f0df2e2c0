//! Refresh tokens and their rotation (PostgreSQL). Same rules as `sqlite/refresh`.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
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
     WHERE r.hash = $1 AND r.expires_at > $2";

fn record(r: &PgRow) -> Result<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        hash: r.try_get(0)?,
        grant_id: r.try_get(1)?,
        client_id: r.try_get(2)?,
        user_id: r.try_get(3)?,
        details: r.try_get(4)?,
        issued_at: r.try_get(5)?,
        expires_at: r.try_get(6)?,
        rotated_at: r.try_get(7)?,
        chain: r.try_get(8)?,
        generation: r.try_get(9)?,
    })
}

/// The statement that inserts a refresh token (`$1`…`$10`, in `COLUMNS` order) and raises
/// its grant, and the grant's revocation if any (see `sqlite/refresh`: a revocation lasts
/// as long as the grant's tokens), to `$11`. One statement is one round trip and atomic on
/// its own: no transaction is opened for it. `guard` names a CTE that must have returned
/// a row for anything to be written ("" for none).
fn insert_sql(guard: &str) -> String {
    let when = if guard.is_empty() {
        String::new()
    } else {
        format!(" AND EXISTS (SELECT 1 FROM {guard})")
    };
    let from = if guard.is_empty() {
        String::new()
    } else {
        format!(" WHERE EXISTS (SELECT 1 FROM {guard})")
    };
    format!(
        "ins AS (INSERT INTO refresh_tokens ({COLUMNS}) \
           SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10{from} RETURNING 1), \
         raised AS (UPDATE grants SET expires_at = GREATEST(expires_at, $11) \
           WHERE grant_id = $2{when} RETURNING 1), \
         kept AS (UPDATE revoked_grants SET expires_at = GREATEST(expires_at, $11) \
           WHERE grant_id = $2{when} RETURNING 1)"
    )
}

fn bind_insert<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    t: &'q RefreshTokenRecord,
    grant_until: UnixTime,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    q.bind(&t.hash)
        .bind(&t.grant_id)
        .bind(&t.client_id)
        .bind(&t.user_id)
        .bind(&t.details)
        .bind(t.issued_at)
        .bind(t.expires_at)
        .bind(t.rotated_at)
        .bind(&t.chain)
        .bind(t.generation)
        .bind(grant_until)
}

#[async_trait]
impl RefreshTokens for PostgresStore {
    async fn insert_refresh_token(
        &self,
        token: &RefreshTokenRecord,
        grant_until: UnixTime,
    ) -> Result<()> {
        self.timed(async {
            let sql = format!(
                "WITH {} SELECT (SELECT count(*) FROM ins) + (SELECT count(*) FROM raised) \
                   + (SELECT count(*) FROM kept)",
                insert_sql("")
            );
            bind_insert(sqlx::query(&sql), token, grant_until)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
        .await
    }

    async fn refresh_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<RefreshTokenRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM refresh_tokens WHERE hash = $1 AND expires_at > $2"
            ))
            .bind(hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(record)
            .transpose()
        })
        .await
    }

    async fn refresh_token_standing(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<(RefreshTokenRecord, GrantScope)>> {
        self.timed(async {
            let Some(r) = sqlx::query(STANDING)
                .bind(hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?
            else {
                return Ok(None);
            };
            let scope: Option<String> = r.try_get(11)?;
            let at: Option<i64> = r.try_get(12)?;
            Ok(Some((
                record(&r)?,
                GrantScope {
                    revoked: r.try_get(10)?,
                    narrowed: scope.zip(at),
                },
            )))
        })
        .await
    }

    async fn refresh_chain_head(
        &self,
        chain: &str,
        now: UnixTime,
    ) -> Result<Option<RefreshTokenRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM refresh_tokens WHERE chain = $1 AND expires_at > $2 \
                 ORDER BY generation DESC LIMIT 1"
            ))
            .bind(chain)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(record)
            .transpose()
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
        self.timed(async {
            // One statement, one round trip, atomic on its own: `won` decides who rotates
            // the token (a racer waits for the winner's row lock, then finds `rotated_at`
            // set and matches nothing); only then is the successor inserted, its grant
            // raised and the chain's tokens older than the rotated one deleted (the chain
            // keeps its two newest). Every CTE sees the same snapshot: the deleted rows are
            // never the one `won` updates (its generation is `new`'s minus one).
            let sql = format!(
                "WITH won AS (UPDATE refresh_tokens SET rotated_at = $12, successor = $13 \
                   WHERE hash = $14 AND rotated_at IS NULL AND expires_at > $12 RETURNING 1), \
                 {}, \
                 pruned AS (DELETE FROM refresh_tokens WHERE chain = $9 AND generation < $10 - 1 \
                   AND EXISTS (SELECT 1 FROM won) RETURNING 1) \
                 SELECT (SELECT count(*) FROM won), (SELECT count(*) FROM ins), \
                   (SELECT count(*) FROM raised) + (SELECT count(*) FROM kept) \
                   + (SELECT count(*) FROM pruned)",
                insert_sql("won")
            );
            let row = bind_insert(sqlx::query(&sql), new, grant_until)
                .bind(now)
                .bind(successor)
                .bind(old_hash)
                .fetch_one(&self.pool)
                .await?;
            if row.try_get::<i64, _>(0)? == 1 {
                return Ok(Rotation::Rotated);
            }
            // Lost, or nothing to rotate; nothing was written. A new statement, so that a
            // winner that committed meanwhile is seen.
            let found =
                sqlx::query("SELECT rotated_at, successor FROM refresh_tokens WHERE hash = $1")
                    .bind(old_hash)
                    .fetch_optional(&self.pool)
                    .await?;
            Ok(match found {
                Some(r) => match r.try_get::<Option<i64>, _>(0)? {
                    Some(at) => Rotation::AlreadyRotated {
                        at,
                        successor: r.try_get(1)?,
                    },
                    None => Rotation::Unknown,
                },
                None => Rotation::Unknown,
            })
        })
        .await
    }
}
