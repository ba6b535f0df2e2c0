//! Second factors: authenticator apps (`totp_factors`), recovery codes and passkeys.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, immediate};
use crate::{PasskeyRecord, Result, SecondFactors, TokenHash, TotpRecord, UnixTime};

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
            let n = delete_of_user(&tx, &user)?;
            tx.commit()?;
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

    async fn add_passkey(
        &self,
        record: &PasskeyRecord,
        recovery: Option<&[TokenHash]>,
        limit: u32,
    ) -> Result<bool> {
        let p = record.clone();
        let recovery = recovery.map(<[TokenHash]>::to_vec);
        self.write(move |c| {
            let tx = immediate(c)?;
            let held: i64 = tx
                .prepare_cached("SELECT count(*) FROM passkeys WHERE user_id = ?1")?
                .query_row([&p.user_id], |r| r.get(0))?;
            if held >= i64::from(limit) {
                return Ok(false);
            }
            let n = tx
                .prepare_cached(&format!(
                    "INSERT INTO passkeys ({PASSKEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT (credential_id) DO NOTHING"
                ))?
                .execute(params![
                    p.credential_id,
                    p.user_id,
                    p.name,
                    p.credential,
                    p.created_at,
                    p.last_used_at
                ])?;
            if n == 0 {
                return Ok(false);
            }
            if let Some(hashes) = &recovery {
                let left: i64 = tx
                    .prepare_cached("SELECT count(*) FROM recovery_codes WHERE user_id = ?1")?
                    .query_row([&p.user_id], |r| r.get(0))?;
                if left == 0 {
                    insert_codes(&tx, &p.user_id, hashes, p.created_at)?;
                }
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn passkeys_of_user(&self, user_id: &str) -> Result<Vec<PasskeyRecord>> {
        let user = user_id.to_owned();
        self.read(move |c| {
            let mut q = c.prepare_cached(&format!(
                "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE user_id = ?1 \
                 ORDER BY created_at, credential_id"
            ))?;
            let rows = q.query_map([user], passkey_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn passkey(&self, credential_id: &str) -> Result<Option<PasskeyRecord>> {
        let id = credential_id.to_owned();
        self.point_read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE credential_id = ?1"
            ))?
            .query_row([id], passkey_row)
            .optional()?)
        })
        .await
    }

    async fn passkey_used(
        &self,
        credential_id: &str,
        credential: &str,
        now: UnixTime,
    ) -> Result<bool> {
        let (id, cred) = (credential_id.to_owned(), credential.to_owned());
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE passkeys SET credential = ?2, last_used_at = ?3 \
                     WHERE credential_id = ?1",
                )?
                .execute(params![id, cred, now])?;
            Ok(n == 1)
        })
        .await
    }

    async fn rename_passkey(&self, user_id: &str, credential_id: &str, name: &str) -> Result<bool> {
        let (user, id, name) = (
            user_id.to_owned(),
            credential_id.to_owned(),
            name.to_owned(),
        );
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE passkeys SET name = ?3 WHERE user_id = ?1 AND credential_id = ?2",
                )?
                .execute(params![user, id, name])?;
            Ok(n == 1)
        })
        .await
    }

    async fn remove_passkey(&self, user_id: &str, credential_id: &str) -> Result<bool> {
        let (user, id) = (user_id.to_owned(), credential_id.to_owned());
        self.write(move |c| {
            let n = c
                .prepare_cached("DELETE FROM passkeys WHERE user_id = ?1 AND credential_id = ?2")?
                .execute(params![user, id])?;
            Ok(n == 1)
        })
        .await
    }
}

/// The user's second factors and upstream accounts go with the user (`delete_user`).
/// How many rows went.
pub(super) fn delete_of_user(c: &rusqlite::Connection, user_id: &str) -> Result<usize> {
    let mut n = 0;
    for table in [
        "totp_factors",
        "recovery_codes",
        "passkeys",
        "upstream_identities",
    ] {
        n += c
            .prepare_cached(&format!("DELETE FROM {table} WHERE user_id = ?1"))?
            .execute([user_id])?;
    }
    Ok(n)
}

fn passkey_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PasskeyRecord> {
    Ok(PasskeyRecord {
        credential_id: r.get(0)?,
        user_id: r.get(1)?,
        name: r.get(2)?,
        credential: r.get(3)?,
        created_at: r.get(4)?,
        last_used_at: r.get(5)?,
    })
}

const PASSKEY_COLUMNS: &str = "credential_id, user_id, name, credential, created_at, last_used_at";
