//! Authenticates the application behind a request (RFC 6749 §2.3.1): reads what it
//! presented, finds its registration, checks the method and the secret.

use std::net::IpAddr;
use std::sync::Arc;
use valet_protocol::application::Application;
use valet_protocol::client_assertion::{self, AssertionClaims, Expected};
use valet_protocol::client_auth::{self, Presented};
use valet_protocol::{ErrorCode, OAuthError};
use valet_store::ClientRecord;

use crate::catalog::Lookup;
use crate::crypto::{b64, sha256};
use crate::error::ApiError;
use crate::form::OAuthForm;
use crate::state::AppState;

/// The one description of every failed client authentication (RFC 6749 §5.2
/// `invalid_client`, 401 with `WWW-Authenticate: Basic`, error.rs): an unknown client_id,
/// a wrong secret, another method than the registered one and unreadable credentials all
/// read the same, so a caller learns neither which part was wrong nor which client_ids
/// exist (issue 12, item 15). The reason goes to the log.
const FAILED: &str =
    "client authentication failed: check the client_id, the secret and the authentication method";

/// Why an authentication failed: for the log, never for the response.
enum Failure {
    Refused(String),
    Other(ApiError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Self::Other(e)
    }
}

pub async fn authenticate(
    state: &AppState,
    form: &OAuthForm,
    ip: IpAddr,
    now: i64,
) -> Result<Arc<ClientRecord>, ApiError> {
    let presented = match client_auth::presented(form.authorization.as_deref(), &form.params) {
        Ok(p) => p,
        Err(e) if e.code == ErrorCode::InvalidClient => {
            tracing::info!(target: "valet::audit", %ip, reason = e.description(),
                "client authentication failed");
            return Err(OAuthError::invalid_client(FAILED).into());
        }
        Err(e) => return Err(e.into()),
    };
    let client_id = presented.client_id();
    state.throttle.check(client_id, ip).map_err(|secs| {
        ApiError::Throttled(secs, "too many failed client authentications; retry later")
    })?;
    let endpoint = format!("{}{}", state.settings.issuer, form.path);
    match verify(state, &presented, &endpoint, ip, now).await {
        Ok(client) => Ok(client),
        Err(Failure::Other(e)) => Err(e),
        Err(Failure::Refused(reason)) => {
            state.throttle.failed(client_id, ip);
            // The id is caller-supplied: quoted (escaped) and cut short in the log.
            let shown: String = client_id.chars().take(64).collect();
            tracing::info!(target: "valet::audit", client_id = ?shown, %ip, %reason,
                "client authentication failed");
            state.audit.event(
                now,
                "client.auth_failed",
                "anonymous".into(),
                Some(ip),
                format!("client:{shown}"),
                serde_json::json!({ "reason": reason.to_string() }),
            );
            Err(OAuthError::invalid_client(FAILED).into())
        }
    }
}

async fn verify(
    state: &AppState,
    presented: &Presented,
    endpoint: &str,
    ip: IpAddr,
    now: i64,
) -> Result<Arc<ClientRecord>, Failure> {
    // A client_id that is an https URL is resolved through its metadata document (its
    // fetch counted against `ip`); one that cannot be used is `invalid_client` like an
    // unknown one, the reason in the log.
    let found = state.catalog.lookup(presented.client_id(), ip).await;
    let client = match found.map_err(ApiError::from)? {
        Lookup::Found(c) => c,
        Lookup::Unknown => {
            // Spend the same HMAC as a real check so unknown ids do not answer faster.
            if let Some(secret) = presented.secret() {
                let _ = state.hasher.hash(secret);
            }
            return Err(Failure::Refused("no application has this client_id".into()));
        }
        Lookup::Refused(why) => {
            return Err(Failure::Refused(format!("metadata document: {why}")));
        }
    };
    if let Err(e) = client_auth::check_method(&client.app, presented) {
        return Err(Failure::Refused(e.description().to_owned()));
    }
    // FAPI 2.0 §5.3.2.1: under the server-wide profile, keys only.
    if state.settings.fapi2 && !matches!(presented, Presented::Jwt { .. }) {
        return Err(Failure::Refused(
            "this server follows the FAPI 2.0 profile: applications authenticate with \
             private_key_jwt"
                .into(),
        ));
    }
    if let Presented::Jwt { assertion, .. } = presented {
        check_assertion(state, &client.app, assertion, endpoint, now).await?;
    }
    if let Presented::Basic { secret, .. } | Presented::Post { secret, .. } = presented {
        let current = client
            .secret
            .as_ref()
            .is_some_and(|h| state.hasher.verify(secret, h));
        let previous = client
            .previous_secret
            .as_ref()
            .is_some_and(|(h, until)| now < *until && state.hasher.verify(secret, h));
        if !(current || previous) {
            return Err(Failure::Refused("the secret does not match".into()));
        }
    }
    Ok(client)
}

/// RFC 7523 §3 (OIDC Core §9 `private_key_jwt`): the assertion is signed by one of the
/// application's keys, says what §3 asks, and its `jti` was never used before — on any
/// node (the store remembers it until its `exp`).
async fn check_assertion(
    state: &AppState,
    app: &Application,
    assertion: &str,
    endpoint: &str,
    now: i64,
) -> Result<(), Failure> {
    let refused = |why: String| Failure::Refused(why);
    let header = valet_jose::header(assertion)
        .map_err(|_| refused("the client_assertion is not a compact JWS".into()))?;
    let fapi2 = app.is_fapi2() || state.settings.fapi2;
    // FAPI 2.0 §5.4.1: PS256, ES256 or EdDSA.
    if fapi2 && header.alg == "RS256" {
        return Err(refused(
            "under the FAPI 2.0 profile a client assertion is signed with PS256, ES256 or EdDSA"
                .into(),
        ));
    }
    let key = state
        .client_keys
        .key_for(app, &header, now)
        .await
        .map_err(refused)?;
    let payload = key
        .verify(assertion, &header)
        .map_err(|e| refused(format!("the client_assertion's signature: {e}")))?;
    let claims: AssertionClaims = serde_json::from_slice(&payload).map_err(|_| {
        refused("the client_assertion's claims are not a JSON object of JWT claims".into())
    })?;
    let token_endpoint = format!("{}/oauth2/token", state.settings.issuer);
    let accepted = client_assertion::check(
        &claims,
        &Expected {
            client_id: &app.client_id,
            issuer: &state.settings.issuer,
            endpoints: &[&token_endpoint, endpoint],
            issuer_only: fapi2,
            now,
        },
    )
    .map_err(|e| refused(e.description().to_owned()))?;
    let id = format!(
        "{}:{}",
        app.client_id,
        b64(sha256(accepted.jti.as_bytes()).as_ref())
    );
    if !state
        .store
        .first_use("client_assertion", &id, accepted.exp)
        .await
        .map_err(ApiError::from)?
    {
        return Err(refused(
            "the client_assertion's jti was used before (RFC 7523 §3 item 7)".into(),
        ));
    }
    Ok(())
}
