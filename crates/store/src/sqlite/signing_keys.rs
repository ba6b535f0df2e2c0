//! Signing keys (the private part sealed with the master key).

use async_trait::async_trait;
use rusqlite::params;
use valet_protocol::keys::KeyTimes;

use super::{SqliteStore, immediate};
use crate::model::SigningKeyRecord;
use crate::{Result, SigningKeys, UnixTime};

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        times: KeyTimes {
            kid: r.get(0)?,
            alg: r.get(1)?,
            created_at: r.get(4)?,
            activates_at: r.get(5)?,
            publish_until: r.get(6)?,
        },
        sealed_private: r.get(2)?,
        public_jwk: r.get(3)?,
    })
}

#[async_trait]
impl SigningKeys for SqliteStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT kid, alg, sealed_private, public_jwk, created_at, activates_at, \
                        publish_until \
                 FROM signing_keys ORDER BY created_at, kid",
            )?;
            let rows = stmt
                .query_map([], key_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn insert_first_signing_key(&self, key: &SigningKeyRecord) -> Result<bool> {
        let k = key.clone();
        self.write(move |c| {
            let n = c.execute(
                "INSERT INTO signing_keys \
                   (kid, alg, sealed_private, public_jwk, created_at, activates_at, publish_until) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 \
                 WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE alg = ?2)",
                params![
                    k.times.kid,
                    k.times.alg,
                    k.sealed_private,
                    k.public_jwk,
                    k.times.created_at,
                    k.times.activates_at,
                    k.times.publish_until
                ],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn rotate_signing_key(
        &self,
        key: &SigningKeyRecord,
        retire: &[(String, UnixTime)],
    ) -> Result<()> {
        let k = key.clone();
        let retire = retire.to_vec();
        self.write(move |c| {
            let tx = immediate(c)?;
            for (kid, until) in &retire {
                tx.execute(
                    "UPDATE signing_keys SET publish_until = ?2 \
                     WHERE kid = ?1 AND publish_until IS NULL",
                    params![kid, until],
                )?;
            }
            tx.execute(
                "INSERT INTO signing_keys \
                   (kid, alg, sealed_private, public_jwk, created_at, activates_at, publish_until) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    k.times.kid,
                    k.times.alg,
                    k.sealed_private,
                    k.public_jwk,
                    k.times.created_at,
                    k.times.activates_at,
                    k.times.publish_until
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn revoke_signing_key(&self, kid: &str, now: UnixTime) -> Result<bool> {
        let kid = kid.to_owned();
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE signing_keys SET publish_until = ?2 \
                 WHERE kid = ?1 AND (publish_until IS NULL OR publish_until > ?2)",
                params![kid, now],
            )? == 1)
        })
        .await
    }
}
