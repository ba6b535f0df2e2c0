//! The JWT bearer grant (RFC 7523 §2.1) from trusted issuers: the server's half. The
//! assertion's `iss` picks the `[[trusted_issuers]]` entry (nothing else is read before the
//! signature is checked), its keys verify it, `valet_protocol::jwt_bearer` checks the
//! claims (§3) and the issuer's policy, its `jti` is taken once on every node (the store's
//! replay table, until the assertion's `exp`), the claim the entry names is mapped to a
//! Valet user, and the token is issued on a new grant the user's account page shows.
//! §3.1: every fault of the assertion is `invalid_grant`; the log says which.

use serde_json::json;
use std::net::IpAddr;
use valet_protocol::application::Application;
use valet_protocol::jwt_bearer::{self, BearerClaims, Expected};
use valet_protocol::params::Params;
use valet_protocol::{OAuthError, UnixTime};
use valet_store::GrantRecord;

use crate::crypto::{b64, random_token, sha256};
use crate::error::ApiError;
use crate::issue::{self, TokenResponse};
use crate::state::AppState;
use crate::trusted_issuers::{IssuerKeys, TrustedIssuer, UserMapping};

pub async fn grant(
    state: &AppState,
    app: &Application,
    params: &Params,
    jkt: Option<&str>,
    ip: IpAddr,
    now: UnixTime,
) -> Result<TokenResponse, ApiError> {
    jwt_bearer::permitted(app)?;
    let Some(assertion) = params.get("assertion") else {
        return Err(OAuthError::invalid_request("assertion is required (RFC 7523 §2.1)").into());
    };
    let (issuer, claims) = verified(state, assertion, now).await?;
    let token_endpoint = format!("{}/oauth2/token", state.settings.issuer);
    let accepted = jwt_bearer::check(
        &claims,
        &issuer.policy,
        &Expected {
            issuer: &state.settings.issuer,
            token_endpoint: &token_endpoint,
            client_id: &app.client_id,
            now,
        },
    )
    .inspect_err(|e| tracing::info!(why = e.description(), "JWT bearer assertion refused"))?;
    let apis = state.catalog.apis().await?;
    let selection = jwt_bearer::select(
        params,
        &claims,
        &issuer.policy,
        &apis,
        &state.settings.issuer,
    )?;
    let user_id = user(state, issuer, &claims).await?;
    // Taken last among the checks, so a request refused for its scope can be corrected
    // and sent again with the same assertion; a failure after this (the store) spends it,
    // and the application asks its provider for a new one.
    let replay_id = format!(
        "{}:{}",
        b64(sha256(issuer.policy.issuer.as_bytes()).as_ref()),
        b64(sha256(accepted.jti.as_bytes()).as_ref())
    );
    if !state
        .store
        .first_use("jwt_bearer", &replay_id, accepted.until)
        .await?
    {
        tracing::info!(issuer = %issuer.policy.issuer, "JWT bearer assertion replayed");
        return Err(OAuthError::invalid_grant(
            "this assertion was used before: each is redeemed once (RFC 7523 §3 item 7)",
        )
        .into());
    }
    let grant_id = random_token(16)?;
    state
        .store
        .insert_grant(&GrantRecord {
            grant_id: grant_id.clone(),
            client_id: app.client_id.clone(),
            user_id: user_id.clone(),
            scope: selection.scope.to_wire(),
            session: None,
            created_at: now,
            expires_at: issue::grant_until(state, now),
        })
        .await?;
    let mut issuance = jwt_bearer::issuance(app, &user_id, &grant_id, &claims, selection, now);
    issuance.bind_dpop(jkt, false);
    let issued = issue::execute(state, app, &issuance, None, now)
        .await?
        .issued()?;
    let (scope, audience) = (
        issuance.selection.scope.to_wire(),
        &issuance.selection.audience,
    );
    tracing::info!(target: "valet::audit", client_id = %app.client_id, sub = %user_id,
        issuer = %issuer.policy.issuer, %scope, "JWT bearer grant");
    state.audit.event(
        now,
        "token.jwt_bearer",
        format!("client:{}", app.client_id),
        Some(ip),
        format!("user:{user_id}"),
        json!({"issuer": issuer.policy.issuer, "scope": scope, "audience": audience}),
    );
    issued.response()
}

fn refused(why: impl Into<String>) -> ApiError {
    let why = why.into();
    tracing::info!(why, "JWT bearer assertion refused");
    OAuthError::invalid_grant(why).into()
}

/// The assertion's trusted issuer and its claims, signature verified.
async fn verified<'s>(
    state: &'s AppState,
    assertion: &str,
    now: UnixTime,
) -> Result<(&'s TrustedIssuer, BearerClaims), ApiError> {
    let header = valet_jose::header(assertion)
        .map_err(|_| refused("the assertion is not a compact JWS (RFC 7523 §2.1)"))?;
    if !jwt_bearer::typ_acceptable(header.typ.as_deref()) {
        return Err(refused(format!(
            "a JWT of typ {:?} is not an authorization grant",
            header.typ.unwrap_or_default()
        )));
    }
    let payload = valet_jose::unverified_payload(assertion)
        .map_err(|_| refused("the assertion is not a compact JWS"))?;
    let claimed = jwt_bearer::claimed_issuer(&payload)
        .ok_or_else(|| refused("the assertion names no issuer (iss)"))?;
    let Some(issuer) = state
        .settings
        .trusted_issuers
        .iter()
        .find(|t| t.policy.issuer == claimed)
    else {
        tracing::info!(iss = %claimed.chars().take(200).collect::<String>(), "untrusted issuer");
        return Err(refused(
            "the assertion's issuer is not one this server trusts (RFC 7523 §3 item 1)",
        ));
    };
    let key = match &issuer.keys {
        IssuerKeys::Set(set) => set.find(&header).ok_or_else(|| {
            format!(
                "no key of {} verifies alg {:?} kid {:?}",
                issuer.policy.issuer, header.alg, header.kid
            )
        }),
        IssuerKeys::Uri(uri) => state.client_keys.key_at(uri, &header, now).await,
    }
    .map_err(|why| {
        tracing::info!(why, "JWT bearer assertion: no key");
        refused("the assertion is not signed by a key of its issuer (RFC 7523 §3 item 9)")
    })?;
    let verified = key
        .verify(assertion, &header)
        .map_err(|_| refused("the assertion's signature does not verify (RFC 7523 §3 item 9)"))?;
    let claims: BearerClaims = serde_json::from_slice(&verified)
        .map_err(|_| refused("the assertion's claims are not a JSON object of JWT claims"))?;
    Ok((issuer, claims))
}

/// The Valet user the assertion names, by the issuer's mapping: one live account, or
/// `invalid_grant` (an unknown user is not created here: the provider vouches for a
/// person, Valet decides who that is).
async fn user(
    state: &AppState,
    issuer: &TrustedIssuer,
    claims: &BearerClaims,
) -> Result<String, ApiError> {
    let claim = &issuer.user_claim;
    let Some(value) = claims.user_claim(claim) else {
        return Err(refused(format!(
            "the assertion has no {claim} claim naming the user"
        )));
    };
    let id = match &issuer.users {
        UserMapping::Id => Some(value.to_owned()),
        UserMapping::Username => state.store.user_by_username(value).await?.map(|u| u.id),
        UserMapping::Email => {
            let mut found = state.store.users_by_email(value).await?;
            found.retain(|u| u.claims.email_verified);
            // Two accounts with one address: the assertion names neither for certain.
            (found.len() == 1).then(|| found.remove(0).id)
        }
        UserMapping::Upstream(upstream) => state
            .store
            .identity(upstream, value)
            .await?
            .map(|i| i.user_id),
    };
    let live = match id {
        Some(id) => state.users.by_sub(&id).await?,
        None => None,
    };
    match live {
        Some(u) => Ok(u.id),
        None => Err(refused("the assertion names no active user of this server")),
    }
}
