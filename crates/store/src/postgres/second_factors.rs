//! Second factors (PostgreSQL). Same rules as `sqlite/second_factors`.

use async_trait::async_trait;
use sqlx::Row;

use super::PostgresStore;
use crate::{PasskeyRecord, Result, SecondFactors, TokenHash, TotpRecord, UnixTime};

async fn insert_codes(
    c: &mut sqlx::PgConnection,
    user_id: &str,
    hashes: &[TokenHash],
    now: UnixTime,
) -> Result<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *c)
        .await?;
    for h in hashes {
        sqlx::query(
            "INSERT INTO recovery_codes (user_id, hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(h)
        .bind(now)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl SecondFactors for PostgresStore {
    async fn totp(&self, user_id: &str) -> Result<Option<TotpRecord>> {
        self.timed(async {
            let row = sqlx::query(
                "SELECT user_id, secret, last_step, created_at FROM totp_factors \
                 WHERE user_id = $1",
            )
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
            row.map(|r| {
                Ok(TotpRecord {
                    user_id: r.try_get(0)?,
                    sealed_secret: r.try_get(1)?,
                    last_step: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn enrol_totp(&self, t: &TotpRecord, recovery: Option<&[TokenHash]>) -> Result<bool> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            let n = sqlx::query(
                "INSERT INTO totp_factors (user_id, secret, last_step, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(&t.user_id)
            .bind(&t.sealed_secret)
            .bind(t.last_step)
            .bind(t.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            if let Some(hashes) = recovery {
                insert_codes(&mut tx, &t.user_id, hashes, t.created_at).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    /// The single statement that decides which submit of a code counts: a racer waits for
    /// the winner's row lock, re-reads `last_step` and matches nothing.
    async fn use_totp_step(&self, user_id: &str, step: i64) -> Result<bool> {
        self.timed(async {
            let n = sqlx::query(
                "UPDATE totp_factors SET last_step = $2 WHERE user_id = $1 AND last_step < $2",
            )
            .bind(user_id)
            .bind(step)
            .execute(&self.pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
        .await
    }

    async fn remove_second_factors(&self, user_id: &str) -> Result<bool> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            let n = delete_of_user(&mut tx, user_id).await?;
            tx.commit().await?;
            Ok(n > 0)
        })
        .await
    }

    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[TokenHash],
        now: UnixTime,
    ) -> Result<()> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            insert_codes(&mut tx, user_id, hashes, now).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn use_recovery_code(&self, user_id: &str, hash: &TokenHash) -> Result<bool> {
        self.timed(async {
            let n = sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1 AND hash = $2")
                .bind(user_id)
                .bind(hash)
                .execute(&self.pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
        .await
    }

    async fn recovery_codes_left(&self, user_id: &str) -> Result<u64> {
        self.timed(async {
            let n: i64 =
                sqlx::query_scalar("SELECT count(*) FROM recovery_codes WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_one(&self.pool)
                    .await?;
            Ok(n as u64)
        })
        .await
    }

    async fn add_passkey(
        &self,
        p: &PasskeyRecord,
        recovery: Option<&[TokenHash]>,
        limit: u32,
    ) -> Result<bool> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            // One user's registrations one at a time, so the limit holds under races.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('passkeys:' || $1))")
                .bind(&p.user_id)
                .execute(&mut *tx)
                .await?;
            let held: i64 = sqlx::query("SELECT count(*) FROM passkeys WHERE user_id = $1")
                .bind(&p.user_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
            if held >= i64::from(limit) {
                return Ok(false);
            }
            let n = sqlx::query(&format!(
                "INSERT INTO passkeys ({PASSKEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (credential_id) DO NOTHING"
            ))
            .bind(&p.credential_id)
            .bind(&p.user_id)
            .bind(&p.name)
            .bind(&p.credential)
            .bind(p.created_at)
            .bind(p.last_used_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            if let Some(hashes) = recovery {
                let left: i64 =
                    sqlx::query("SELECT count(*) FROM recovery_codes WHERE user_id = $1")
                        .bind(&p.user_id)
                        .fetch_one(&mut *tx)
                        .await?
                        .try_get(0)?;
                if left == 0 {
                    insert_codes(&mut tx, &p.user_id, hashes, p.created_at).await?;
                }
            }
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    async fn passkeys_of_user(&self, user_id: &str) -> Result<Vec<PasskeyRecord>> {
        self.timed(async {
            let rows = sqlx::query(&format!(
                "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE user_id = $1 \
                 ORDER BY created_at, credential_id"
            ))
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(passkey_row).collect()
        })
        .await
    }

    async fn passkey(&self, credential_id: &str) -> Result<Option<PasskeyRecord>> {
        self.timed(async {
            let row = sqlx::query(&format!(
                "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE credential_id = $1"
            ))
            .bind(credential_id)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(passkey_row).transpose()
        })
        .await
    }

    async fn passkey_used(
        &self,
        credential_id: &str,
        credential: &str,
        now: UnixTime,
    ) -> Result<bool> {
        self.timed(async {
            let n = sqlx::query(
                "UPDATE passkeys SET credential = $2, last_used_at = $3 WHERE credential_id = $1",
            )
            .bind(credential_id)
            .bind(credential)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
        .await
    }

    async fn rename_passkey(&self, user_id: &str, credential_id: &str, name: &str) -> Result<bool> {
        self.timed(async {
            let n = sqlx::query(
                "UPDATE passkeys SET name = $3 WHERE user_id = $1 AND credential_id = $2",
            )
            .bind(user_id)
            .bind(credential_id)
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
        .await
    }

    async fn remove_passkey(&self, user_id: &str, credential_id: &str) -> Result<bool> {
        self.timed(async {
            let n = sqlx::query("DELETE FROM passkeys WHERE user_id = $1 AND credential_id = $2")
                .bind(user_id)
                .bind(credential_id)
                .execute(&self.pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
        .await
    }
}

pub(super) async fn delete_of_user(c: &mut sqlx::PgConnection, user_id: &str) -> Result<u64> {
    let mut n = 0;
    for table in [
        "totp_factors",
        "recovery_codes",
        "passkeys",
        "upstream_identities",
    ] {
        n += sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
            .bind(user_id)
            .execute(&mut *c)
            .await?
            .rows_affected();
    }
    Ok(n)
}

const PASSKEY_COLUMNS: &str = "credential_id, user_id, name, credential, created_at, last_used_at";

fn passkey_row(r: &sqlx::postgres::PgRow) -> Result<PasskeyRecord> {
    Ok(PasskeyRecord {
        credential_id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        name: r.try_get(2)?,
        credential: r.try_get(3)?,
        created_at: r.try_get(4)?,
        last_used_at: r.try_get(5)?,
    })
}
