//! Keys that rotate themselves (issue 21): at each key reload a node with
//! `key_rotation_interval` set rotates what is due (`keyring::rotate_due`: of several
//! nodes, the store lets one rotate each key), audits it and reloads its keyring.

use crate::keyring;
use crate::state::Shared;

/// `key_rotation_interval` (issue 21): keys that are due rotate, audited; the keyring
/// reads the new ones at once.
pub async fn run_once(state: &Shared, interval: i64) {
    let now = state.clock.now();
    let s = &state.settings;
    let store = state.store.as_ref();
    match keyring::rotate_due(
        store,
        &state.sealer,
        interval,
        now,
        s.key_activation_delay,
        s.key_retention(),
    )
    .await
    {
        Ok(rotated) if rotated.is_empty() => {}
        Ok(rotated) => {
            for t in &rotated {
                tracing::info!(target: "valet::audit", kid = %t.kid, alg = %t.alg,
                    activates_at = t.activates_at, "signing key rotated on schedule");
                state.audit.event(
                    now,
                    "key.rotate",
                    "system:schedule".into(),
                    None,
                    format!("key:{}", t.kid),
                    serde_json::json!({ "alg": t.alg, "activates_at": t.activates_at, "scheduled": true }),
                );
            }
            if let Err(e) = state.keys.refresh(store, &state.sealer, now).await {
                tracing::warn!(error = %e, "keys rotated; reloading them failed (the next refresh retries)");
            }
        }
        Err(e) => tracing::warn!(error = %e, "scheduled key rotation failed; will retry"),
    }
}
