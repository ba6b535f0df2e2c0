//! Second factors: authenticator apps (`totp_factors`) and recovery codes.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, immediate};
use crate::{Result, SecondFactors, TokenHash, TotpRecord, UnixTime};

fn insert_codes(
    c: &rusqlite::Connection,
    user_id: &str,
    hashes: &[TokenHash],
    now: UnixTime,
) -> Result<()> {
    c.prepare_cached("DELETE FROM recovery_codes WHERE user_id = ?1")?
        .execute([user_id])?;
    let mut insert = c.prepare_cached(
        "INSERT INTO recovery_codes (user_id, hash, created_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT DO NOTHING",
    )?;
    for h in hashes {
        insert.execute(params![user_id, h, now])?;
    }
    Ok(())
}

#[async_trait]
impl SecondFactors for SqliteStore {
    async fn totp(&self, user_id: &str) -> Result<Option<TotpRecord>> {
        let user = user_id.to_owned();
        self.point_read(move |c| {
            Ok(c.prepare_cached(
                "SELECT user_id, secret, last_step, created_at FROM totp_factors \
                 WHERE user_id = ?1",
            )?
            .query_row([user], |r| {
                Ok(TotpRecord {
                    user_id: r.get(0)?,
                    sealed_secret: r.get(1)?,
                    last_step: r.get(2)?,
                    created_at: r.get(3)?,
                })
            })
            .optional()?)
        })
        .await
    }

    async fn enrol_totp(
        &self,
        record: &TotpRecord,
        recovery: Option<&[TokenHash]>,
    ) -> Result<bool> {
        let t = record.clone();
        let recovery = recovery.map(<[TokenHash]>::to_vec);
        self.write(move |c| {
            let tx = immediate(c)?;
            let n = tx
                .prepare_cached(
                    "INSERT INTO totp_factors (user_id, secret, last_step, created_at) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id) DO NOTHING",
                )?
                .execute(params![
                    t.user_id,
                    t.sealed_secret,
                    t.last_step,
                    t.created_at
                ])?;
            if n == 0 {
                return Ok(false);
            }
            if let Some(hashes) = &recovery {
                insert_codes(&tx, &t.user_id, hashes, t.created_at)?;
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn use_totp_step(&self, user_id: &str, step: i64) -> Result<bool> {
        let user = user_id.to_owned();
        self.write(move |c| {
            // The single statement that decides which submit of a code counts.
            let n = c
                .prepare_cached(
                    "UPDATE totp_factors SET last_step = ?2 \
                     WHERE user_id = ?1 AND last_step < ?2",
                )?
                .execute(params![user, step])?;
            Ok(n == 1)
        })
        .await
    }

    async fn remove_second_factors(&self, user_id: &str) -> Result<bool> {
        let user = user_id.to_owned();
        self.write(move |c| {
            let tx = immediate(c)?;
            let a = tx
                .prepare_cached("DELETE FROM totp_factors WHERE user_id = ?1")?
                .execute([&user])?;
            let b = tx
                .prepare_cached("DELETE FROM recovery_codes WHERE user_id = ?1")?
                .execute([&user])?;
            tx.commit()?;
            Ok(a + b > 0)
        })
        .await
    }

    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[TokenHash],
        now: UnixTime,
    ) -> Result<()> {
        let user = user_id.to_owned();
        let hashes = hashes.to_vec();
        self.write(move |c| {
            let tx = immediate(c)?;
            insert_codes(&tx, &user, &hashes, now)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn use_recovery_code(&self, user_id: &str, hash: &TokenHash) -> Result<bool> {
        let user = user_id.to_owned();
        let hash = hash.clone();
        self.write(move |c| {
            let n = c
                .prepare_cached("DELETE FROM recovery_codes WHERE user_id = ?1 AND hash = ?2")?
                .execute(params![user, hash])?;
            Ok(n == 1)
        })
        .await
    }

    async fn recovery_codes_left(&self, user_id: &str) -> Result<u64> {
        let user = user_id.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT count(*) FROM recovery_codes WHERE user_id = ?1")?
                    .query_row([user], |r| r.get::<_, i64>(0))? as u64,
            )
        })
        .await
    }
}

/// The user's second factors go with the user (`delete_user`).
pub(super) fn delete_of_user(c: &rusqlite::Connection, user_id: &str) -> Result<()> {
    c.prepare_cached("DELETE FROM totp_factors WHERE user_id = ?1")?
        .execute([user_id])?;
    c.prepare_cached("DELETE FROM recovery_codes WHERE user_id = ?1")?
        .execute([user_id])?;
    Ok(())
}
