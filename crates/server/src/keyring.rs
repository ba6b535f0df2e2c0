//! Signing keys as a node holds them: unsealed and parsed once, swapped atomically when the
//! store changes. Rotation publishes first and signs later (`valet_protocol::keys`).

use arc_swap::ArcSwap;
use std::sync::Arc;
use valet_jose::{Algorithm, JoseError, Jwk, SigningKey, VerifyingKey};
use valet_protocol::UnixTime;
use valet_protocol::keys::{self, KeyTimes};
use valet_store::{SigningKeyRecord, Store, StoreError};

use crate::crypto::Sealer;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sealed(#[from] crate::fault::Fault),
    #[error("signing key {kid}: unknown alg {alg}")]
    UnknownAlg { kid: String, alg: String },
    #[error("signing key {0}: kid does not match the key")]
    KidMismatch(String),
    #[error("signing key {kid}: {source}")]
    Key { kid: String, source: JoseError },
}

/// A key's parsed halves; shared between snapshots so a refresh never re-parses a key.
pub struct KeyMaterial {
    pub signer: SigningKey,
    pub verifier: VerifyingKey,
}

/// The keys of one moment, plus the JWKS document they publish.
pub struct KeySnapshot {
    times: Vec<KeyTimes>,
    material: Vec<Arc<KeyMaterial>>,
    jwks: String,
}

impl KeySnapshot {
    /// The key that signs `alg` tokens at `now`.
    pub fn signer(&self, alg: Algorithm, now: UnixTime) -> Option<&SigningKey> {
        let chosen = keys::signing_key(&self.times, alg.as_str(), now)?;
        let i = self.times.iter().position(|t| t.kid == chosen.kid)?;
        Some(&self.material[i].signer)
    }

    /// A published key by kid; kid is only ever a map key (RFC 8725 §3.10).
    pub fn verifier(&self, kid: &str, now: UnixTime) -> Option<&VerifyingKey> {
        let i = self
            .times
            .iter()
            .position(|t| t.kid == kid && t.is_published(now))?;
        Some(&self.material[i].verifier)
    }

    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    pub fn times(&self) -> &[KeyTimes] {
        &self.times
    }
}

/// The node's current keys.
pub struct Keyring {
    current: ArcSwap<KeySnapshot>,
}

impl Keyring {
    pub fn new(snapshot: KeySnapshot) -> Self {
        Self {
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    pub fn snapshot(&self) -> arc_swap::Guard<Arc<KeySnapshot>> {
        self.current.load()
    }

    /// Reloads from the store, reusing keys already parsed.
    pub async fn refresh(
        &self,
        store: &dyn Store,
        sealer: &Sealer,
        now: UnixTime,
    ) -> Result<(), KeyError> {
        let old = self.current.load_full();
        let records = store.signing_keys().await?;
        let mut material = Vec::with_capacity(records.len());
        for r in &records {
            match old.times.iter().position(|t| t.kid == r.times.kid) {
                Some(i) => material.push(old.material[i].clone()),
                None => material.push(Arc::new(load(sealer, r)?)),
            }
        }
        let times = records.into_iter().map(|r| r.times).collect();
        self.current.store(Arc::new(build(times, material, now)));
        Ok(())
    }
}

fn load(sealer: &Sealer, r: &SigningKeyRecord) -> Result<KeyMaterial, KeyError> {
    let kid = &r.times.kid;
    let alg = Algorithm::parse(&r.times.alg).ok_or_else(|| KeyError::UnknownAlg {
        kid: kid.clone(),
        alg: r.times.alg.clone(),
    })?;
    let der = sealer.open(kid, &r.sealed_private)?;
    let signer = SigningKey::from_pkcs8(alg, &der).map_err(|source| KeyError::Key {
        kid: kid.clone(),
        source,
    })?;
    if signer.kid() != kid {
        return Err(KeyError::KidMismatch(kid.clone()));
    }
    let verifier = VerifyingKey::from_jwk(signer.jwk()).map_err(|source| KeyError::Key {
        kid: kid.clone(),
        source,
    })?;
    Ok(KeyMaterial { signer, verifier })
}

fn build(times: Vec<KeyTimes>, material: Vec<Arc<KeyMaterial>>, now: UnixTime) -> KeySnapshot {
    let published: Vec<&Jwk> = times
        .iter()
        .zip(&material)
        .filter(|(t, _)| t.is_published(now))
        .map(|(_, m)| m.signer.jwk())
        .collect();
    let jwks = serde_json::json!({ "keys": published }).to_string();
    KeySnapshot {
        times,
        material,
        jwks,
    }
}

/// Loads every key; on first start generates the ES256 and RS256 keys. The keys the store
/// holds are opened first, so a master key that does not open them (`Fault::Unseal`)
/// writes nothing: this is how the CLI and a node check the key fits the database.
pub async fn load_or_generate(
    store: &dyn Store,
    sealer: &Sealer,
    now: UnixTime,
) -> Result<KeySnapshot, KeyError> {
    let existing = store.signing_keys().await?;
    let mut opened = Vec::with_capacity(existing.len());
    for r in &existing {
        opened.push(Arc::new(load(sealer, r)?));
    }
    let mut generated = false;
    for alg in Algorithm::ALL {
        if existing.iter().any(|k| k.times.alg == alg.as_str()) {
            continue;
        }
        generated = true;
        // No token exists yet, so the first key may sign at once.
        let record = new_record(sealer, alg, now, now)?;
        if store.insert_first_signing_key(&record).await? {
            tracing::info!(alg = %alg, kid = %record.times.kid, "generated the first signing key");
        }
    }
    if !generated {
        return Ok(build(
            existing.into_iter().map(|r| r.times).collect(),
            opened,
            now,
        ));
    }
    // After generating, read again: another node may have won the insert.
    let records = store.signing_keys().await?;
    let mut material = Vec::with_capacity(records.len());
    for r in &records {
        match existing.iter().position(|e| e.times.kid == r.times.kid) {
            Some(i) => material.push(opened[i].clone()),
            None => material.push(Arc::new(load(sealer, r)?)),
        }
    }
    Ok(build(
        records.into_iter().map(|r| r.times).collect(),
        material,
        now,
    ))
}

fn new_record(
    sealer: &Sealer,
    alg: Algorithm,
    now: UnixTime,
    activates_at: UnixTime,
) -> Result<SigningKeyRecord, KeyError> {
    let der = valet_jose::generate_pkcs8(alg).map_err(|source| KeyError::Key {
        kid: String::new(),
        source,
    })?;
    let key = SigningKey::from_pkcs8(alg, &der).map_err(|source| KeyError::Key {
        kid: String::new(),
        source,
    })?;
    let kid = key.kid().to_owned();
    let public_jwk =
        serde_json::to_string(key.jwk()).map_err(crate::fault::Fault::encode("public JWK"))?;
    Ok(SigningKeyRecord {
        sealed_private: sealer.seal(&kid, &der)?,
        public_jwk,
        times: KeyTimes {
            kid,
            alg: alg.as_str().into(),
            created_at: now,
            activates_at,
            publish_until: None,
        },
    })
}

/// Seconds added to `activation_delay` when a rotation is planned. Times are whole seconds,
/// so without it a key rotated at 10.9 s signs from 10 s + delay, up to 1 s early; and a
/// node publishes a new key only when its reload (every `key_refresh_interval`, after the
/// previous one finished) has read it back. One second for each keeps every node
/// publishing a key before any node signs with it, even at the smallest delay the settings
/// accept (`key_refresh_interval + jwks_max_age`; tests/cluster shows it across nodes).
pub const ACTIVATION_MARGIN: i64 = 2;

/// How long a node's claim to rotate a due key stands (`rotate_due`).
const ROTATION_CLAIM: i64 = 600;

/// Rotates every algorithm whose newest key is `interval` old (`keys::rotation_due`),
/// on schedule. Across nodes one rotates: each due key's kid is claimed once in the store
/// (`Replays::first_use`), and only the node whose claim is first rotates it. Returns
/// the new keys.
pub async fn rotate_due(
    store: &dyn Store,
    sealer: &Sealer,
    interval: i64,
    now: UnixTime,
    activation_delay: i64,
    retention: i64,
) -> Result<Vec<KeyTimes>, KeyError> {
    let times: Vec<KeyTimes> = store
        .signing_keys()
        .await?
        .into_iter()
        .map(|r| r.times)
        .collect();
    let mut rotated = Vec::new();
    for alg in Algorithm::ALL {
        let Some(due) = keys::rotation_due(&times, alg.as_str(), interval, now) else {
            continue;
        };
        // The claim outlives any race between nodes, not a failed rotation: once it
        // lapses the kid, still the newest, is claimed and rotated again. A rotated kid
        // is never due again (its successor is newer), so a lapsed claim is harmless.
        if !store
            .first_use("key-rotation", &due.kid, now + ROTATION_CLAIM)
            .await?
        {
            continue;
        }
        rotated.push(rotate(store, sealer, alg, now, activation_delay, retention).await?);
    }
    Ok(rotated)
}

/// Rotates `alg`: the new key is published now and signs after `activation_delay` (plus
/// [`ACTIVATION_MARGIN`]); the keys it replaces stay published for `retention` after that.
pub async fn rotate(
    store: &dyn Store,
    sealer: &Sealer,
    alg: Algorithm,
    now: UnixTime,
    activation_delay: i64,
    retention: i64,
) -> Result<KeyTimes, KeyError> {
    let existing: Vec<KeyTimes> = store
        .signing_keys()
        .await?
        .into_iter()
        .map(|r| r.times)
        .collect();
    let plan = keys::plan_rotation(
        &existing,
        alg.as_str(),
        now,
        activation_delay + ACTIVATION_MARGIN,
        retention,
    );
    let record = new_record(sealer, alg, now, plan.activates_at)?;
    store.rotate_signing_key(&record, &plan.retire).await?;
    Ok(record.times)
}

/// Emergency replacement after a revocation: a new `alg` key that signs from `now`, with
/// no activation delay (the revoked key is gone from the JWKS already; tokens it signed
/// are meant to fail). Retires nothing.
pub async fn replace_now(
    store: &dyn Store,
    sealer: &Sealer,
    alg: Algorithm,
    now: UnixTime,
) -> Result<KeyTimes, KeyError> {
    let record = new_record(sealer, alg, now, now)?;
    store.rotate_signing_key(&record, &[]).await?;
    Ok(record.times)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;
    use valet_store::prelude::*;
    use valet_store::sqlite::SqliteStore;

    /// A database holding one algorithm's key only (made under key A): a node or command
    /// with key B is refused before it seals the other algorithm's key under B.
    #[tokio::test]
    async fn a_key_that_does_not_open_the_stored_keys_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("v.db")).await.unwrap();
        let a = MasterKey::generate().unwrap().sealer().unwrap();
        let first = new_record(&a, Algorithm::ES256, 100, 100).unwrap();
        assert!(store.insert_first_signing_key(&first).await.unwrap());

        let b = MasterKey::generate().unwrap().sealer().unwrap();
        let refused = load_or_generate(&store, &b, 200).await;
        assert!(matches!(
            refused,
            Err(KeyError::Sealed(crate::fault::Fault::Unseal))
        ));
        assert_eq!(
            store.signing_keys().await.unwrap().len(),
            1,
            "nothing written"
        );

        // Key A opens it and adds the missing algorithms' keys.
        let snapshot = load_or_generate(&store, &a, 200).await.unwrap();
        assert_eq!(snapshot.times().len(), Algorithm::ALL.len());
        assert!(load_or_generate(&store, &a, 300).await.is_ok());
    }
}
