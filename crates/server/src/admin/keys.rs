//! Signing keys: rotation, and the emergency revocation of a key that may have leaked.
//!
//! A revoked key leaves the JWKS and stops signing at once on the node that revoked it
//! (and on every other node at its next key reload, `key_refresh_interval`); every token
//! it signed stops verifying. When it was the key signing its algorithm, a new key of that
//! algorithm signs from the same instant.

use valet_jose::Algorithm;
use valet_protocol::keys::{self, KeyTimes};

use super::{Admin, AdminError, Changes, Target};
use crate::crypto::Sealer;
use crate::keyring::{self, KeyError};

impl From<KeyError> for AdminError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Store(s) => s.into(),
            other => AdminError::Invalid(other.to_string()),
        }
    }
}

impl Admin {
    pub async fn keys(&self) -> Result<Vec<KeyTimes>, AdminError> {
        Ok(self
            .store
            .signing_keys()
            .await?
            .into_iter()
            .map(|r| r.times)
            .collect())
    }

    /// A scheduled rotation (`keyring::rotate`), audited.
    pub async fn rotate_key(
        &self,
        sealer: &Sealer,
        alg: Algorithm,
        now: i64,
        activation_delay: i64,
        retention: i64,
    ) -> Result<KeyTimes, AdminError> {
        let t = keyring::rotate(
            self.store.as_ref(),
            sealer,
            alg,
            now,
            activation_delay,
            retention,
        )
        .await?;
        self.reload_keys(sealer, now).await;
        let changes = Changes::created(&serde_json::json!({
            "alg": t.alg, "activates_at": t.activates_at,
        }));
        self.record("key.rotate", Target::Key(&t.kid), changes, now)
            .await?;
        Ok(t)
    }

    /// Emergency revocation of `kid`; answers the replacement key when one was needed.
    pub async fn revoke_key(
        &self,
        sealer: &Sealer,
        kid: &str,
        now: i64,
    ) -> Result<Option<KeyTimes>, AdminError> {
        let all = self.keys().await?;
        let Some(key) = all.iter().find(|k| k.kid == kid) else {
            return Err(AdminError::NotFound(format!("no signing key {kid}")));
        };
        if !key.is_published(now) && key.created_at <= now {
            return Err(AdminError::Invalid(format!(
                "{kid} is already retired (not published)"
            )));
        }
        let was_signing = keys::signing_key(&all, &key.alg, now).is_some_and(|s| s.kid == key.kid);
        if !self.store.revoke_signing_key(kid, now).await? {
            return Err(AdminError::NotFound(format!("no signing key {kid}")));
        }
        let remaining: Vec<KeyTimes> = self
            .keys()
            .await?
            .into_iter()
            .filter(|k| k.kid != kid)
            .collect();
        let replacement = match keys::signing_key(&remaining, &key.alg, now) {
            Some(_) => None,
            None => {
                let alg = Algorithm::parse(&key.alg).ok_or_else(|| {
                    AdminError::Invalid(format!("{kid}: unknown algorithm {}", key.alg))
                })?;
                Some(keyring::replace_now(self.store.as_ref(), sealer, alg, now).await?)
            }
        };
        self.reload_keys(sealer, now).await;
        let mut changes = Changes::default()
            .set("publish_until", key.publish_until, now)
            .set("signing", was_signing, false);
        if let Some(r) = &replacement {
            changes = changes.set("replaced_by", None::<String>, &r.kid);
        }
        self.record("key.revoke", Target::Key(kid), changes, now)
            .await?;
        Ok(replacement)
    }

    /// On a node, its keyring reads the change at once.
    async fn reload_keys(&self, sealer: &Sealer, now: i64) {
        if let Some(n) = &self.node {
            if let Err(e) = n.keys.refresh(self.store.as_ref(), sealer, now).await {
                tracing::warn!(error = %e, "keys changed; reloading them failed (the periodic reload retries)");
            }
        }
    }
}
