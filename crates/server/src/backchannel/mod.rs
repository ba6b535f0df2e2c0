//! OIDC Back-Channel Logout 1.0: every node delivers the logouts queued in the store
//! (`LogoutDeliveries`, written with each logout: a user's, "sign out everywhere", a new
//! password, an admin's disable or delete, an expired session). Once a second a node
//! claims what is due, signs a fresh logout token for each (§2.4, RS256 like ID tokens,
//! `typ: logout+jwt`), and POSTs it (`post.rs`, §2.5). A failure is retried with a
//! growing delay, a refusal (4xx) is not, and after `MAX_ATTEMPTS` or a day the logout is
//! dropped with a warning. At most `BATCH` POSTs are in flight per node.

use std::time::Duration;
use valet_protocol::application::Origin;
use valet_protocol::backchannel::{LogoutTokenClaims, TYP};
use valet_store::LogoutDelivery;

use crate::crypto::random_token;
use crate::state::Shared;

pub mod post;

pub use post::{Outcome, Poster};

/// How often a node looks for due deliveries.
const TICK: Duration = Duration::from_secs(1);
/// A claimed delivery is hidden from other nodes this long (longer than `BATCH` POSTs).
const LEASE: i64 = 60;
/// Deliveries a node claims, and POSTs at once, per tick.
const BATCH: u32 = 8;
/// Attempts before a logout is given up on.
pub const MAX_ATTEMPTS: u32 = 6;
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Seconds before the next attempt after `attempts` failed ones.
pub fn backoff(attempts: u32) -> i64 {
    match attempts {
        0 | 1 => 5,
        2 => 30,
        3 => 120,
        4 => 600,
        _ => 3600,
    }
}

/// Delivers forever (spawned by `Valet::run`).
pub async fn run(state: Shared) {
    loop {
        tokio::time::sleep(TICK).await;
        if let Err(e) = deliver_due(&state).await {
            tracing::warn!(error = %e, "back-channel logout: could not read what is due; will retry");
        }
    }
}

/// One round: claims what is due at the node's `now` and delivers it. Returns how many
/// were claimed.
pub async fn deliver_due(state: &Shared) -> Result<usize, valet_store::StoreError> {
    let now = state.clock.now();
    let due = state
        .store
        .claim_logout_deliveries(now, LEASE, BATCH)
        .await?;
    let n = due.len();
    let mut running = tokio::task::JoinSet::new();
    for d in due {
        let state = state.clone();
        running.spawn(async move { deliver(&state, d, now).await });
    }
    while running.join_next().await.is_some() {}
    Ok(n)
}

async fn deliver(state: &Shared, d: LogoutDelivery, now: i64) {
    let result = attempt(state, &d, now).await;
    let store = &state.store;
    let done = match result {
        Ok(None) => true,
        Ok(Some(Outcome::Delivered)) => {
            tracing::info!(target: "valet::audit", client_id = %d.client_id, sub = %d.user_id,
                attempts = d.attempts, "back-channel logout delivered");
            true
        }
        Ok(Some(Outcome::Refused(why))) => {
            tracing::warn!(client_id = %d.client_id, %why, "back-channel logout refused by the application; not retried");
            true
        }
        Ok(Some(Outcome::Failed(why))) | Err(why) => {
            let next = now + backoff(d.attempts);
            if d.attempts >= MAX_ATTEMPTS || next >= d.expires_at {
                tracing::warn!(client_id = %d.client_id, attempts = d.attempts, %why,
                    "back-channel logout given up");
                true
            } else {
                tracing::info!(client_id = %d.client_id, attempts = d.attempts, %why,
                    retry_in = next - now, "back-channel logout failed; will retry");
                if let Err(e) = store.retry_logout_delivery(d.id, next).await {
                    tracing::warn!(error = %e, "back-channel logout: could not schedule the retry");
                }
                false
            }
        }
    };
    if done {
        if let Err(e) = store.finish_logout_delivery(d.id).await {
            tracing::warn!(error = %e, "back-channel logout: could not mark a delivery done");
        }
    }
}

/// `Ok(None)`: nothing to send (the application is gone or listens to no logout).
async fn attempt(state: &Shared, d: &LogoutDelivery, now: i64) -> Result<Option<Outcome>, String> {
    let Some(client) = state
        .catalog
        .client(&d.client_id)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let Some(uri) = client.app.backchannel_logout_uri.clone() else {
        return Ok(None);
    };
    // The `sub` the application knows (pairwise or not), signed as its ID tokens are.
    let sub = crate::pairwise::subject(state, &client.app, &d.user_id);
    let claims = LogoutTokenClaims::new(
        &state.settings.issuer,
        &d.client_id,
        &sub,
        d.session.as_ref().map(crate::session::sid),
        now,
        random_token(16).map_err(|e| e.to_string())?,
    );
    let alg = crate::issue::id_token_alg(&client.app);
    let token = crate::issue::sign(state, alg, TYP, &claims, now)
        .map_err(|e| format!("cannot sign the logout token: {e}"))?;
    let self_registered = client.app.registration.origin != Origin::Admin;
    Ok(Some(
        state.backchannel.post(&uri, &token, self_registered).await,
    ))
}
