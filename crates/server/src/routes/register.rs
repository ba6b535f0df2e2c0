//! Dynamic client registration: `POST /oauth2/register` (RFC 7591 §3) and the client
//! configuration endpoint `GET|PUT|DELETE /oauth2/register/{client_id}` (RFC 7592 §2).
//!
//! The firewall (issue 14): registrations are counted per address in the store before
//! anything is parsed (429 with `Retry-After`); a public registration identical to one
//! from the same address within `dedupe_window` returns that application (same client_id,
//! a fresh registration access token) instead of a new row, decided in the store; a
//! confidential registration, or any under `registration = "token"`, consumes an initial
//! access token in the same transaction. The registration access token (256 bits) is
//! stored as its SHA-256, compared in constant time, rotated on every update; a wrong or
//! absent one is `401 invalid_token` whether or not the application exists.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use valet_protocol::error::ErrorCode;
use valet_protocol::registration::{self, Issued};
use valet_protocol::{OAuthError, application::Application};
use valet_store::{
    ClientRecord, Registered, RegistrationRecord, ThrottleDecision, ThrottleRule, TokenHash,
};

use crate::crypto::{b64, new_client_secret, random_token, sha256};
use crate::error::{ApiError, no_store};
use crate::registration::Mode;
use crate::state::{AppState, Shared};
use crate::throttle::address_key;

/// Registrations one address may attempt per window (RFC 7591 §3 leaves rate limits to
/// the server; issue 14), all addresses together per window, and the window (seconds).
pub const PER_ADDRESS: u32 = 20;
pub const ALL_ADDRESSES: u32 = 2000;
pub const WINDOW: i64 = 3600;

/// Bytes of a registration access token and of a new client_id.
const TOKEN_BYTES: usize = 32;
const CLIENT_ID_BYTES: usize = 18;

fn invalid_token(why: &'static str) -> ApiError {
    ApiError::Bearer(OAuthError::new(ErrorCode::InvalidToken, why), None)
}

/// The `Authorization: Bearer` token, if any (RFC 6750 §2.1).
fn bearer(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    match v.to_str().unwrap_or("").split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
            Ok(Some(t.trim().to_owned()))
        }
        _ => Err(invalid_token("use the Bearer scheme")),
    }
}

/// RFC 7591 §3.1: the body is a JSON object sent as `application/json`.
fn json_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Bytes, registration::Metadata), ApiError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media != "application/json" {
        return Err(OAuthError::invalid_request("the body must be application/json").into());
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            OAuthError::invalid_request("the request body could not be read").into()
        }
    })?;
    let meta = registration::parse(&body)?;
    Ok((body, meta))
}

fn off() -> ApiError {
    ApiError::NotFound("dynamic client registration is off on this server".into())
}

fn client_uri(state: &AppState, client_id: &str) -> String {
    format!("{}/oauth2/register/{client_id}", state.settings.issuer)
}

/// Counts one registration from `ip` (and across addresses) before any work.
async fn throttle(state: &AppState, ip: IpAddr, now: i64) -> Result<(), ApiError> {
    let key = |what: &str| b64(&state.user_codes.hash(&format!("register\u{0}{what}")).0);
    let rule = |key: String, limit: u32| ThrottleRule {
        key,
        window: WINDOW,
        limit,
        free: u32::MAX,
        max_spacing: 0,
    };
    let rules = [
        rule(key(&address_key(ip)), PER_ADDRESS),
        rule(key("*"), ALL_ADDRESSES),
    ];
    if let ThrottleDecision::Refused { retry_after } =
        state.store.throttle_attempt(&rules, now).await?
    {
        tracing::info!(target: "valet::audit", %ip, retry_after, "registrations throttled");
        return Err(ApiError::Throttled(
            u64::try_from(retry_after).unwrap_or(1),
            "too many registrations from this address; retry later",
        ));
    }
    Ok(())
}

pub async fn register(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let settings = &state.settings.registration;
    if settings.mode == Mode::Off {
        return Err(off());
    }
    let now = state.clock.now();
    throttle(&state, peer.ip(), now).await?;
    let initial = bearer(&headers)?;
    let (_, meta) = json_body(&headers, body)?;
    let apis = state.catalog.apis().await?;
    let client_id = crate::crypto::new_client_id(CLIENT_ID_BYTES)?;
    let app = registration::application(&meta, client_id, &settings.policy(&apis))?;
    let needs_token = settings.mode == Mode::Token || app.is_confidential();
    if needs_token && initial.is_none() {
        return Err(invalid_token(
            "this registration needs an initial access token (Authorization: Bearer)",
        ));
    }
    let secret = app.has_secret().then(new_client_secret).transpose()?;
    let token = random_token(TOKEN_BYTES)?;
    // Only public registrations are deduplicated: a confidential one's secret is shown
    // once and cannot be handed out again.
    let fingerprint = (!app.is_confidential()).then(|| {
        let fp = registration::fingerprint(&app);
        sha256(format!("{fp}\u{0}{}", address_key(peer.ip())).as_bytes())
    });
    let record = ClientRecord {
        secret: secret.as_ref().map(|s| state.hasher.hash(s.expose())),
        previous_secret: None,
        created_at: now,
        updated_at: now,
        app,
    };
    let reg = RegistrationRecord {
        client_id: record.app.client_id.clone(),
        token_hash: sha256(token.as_bytes()),
        fingerprint,
        created_at: now,
        dedupe_until: now + settings.dedupe_window,
        last_used_at: None,
        expires_at: now + settings.idle_ttl,
    };
    let initial_hash = initial.as_deref().map(|t| sha256(t.as_bytes()));
    let (app, issued_at, created) = match state
        .store
        .register_client(&record, &reg, initial_hash.as_ref(), now)
        .await?
    {
        Registered::Created => {
            // Its redirect origin may call the token endpoint from a browser at once.
            state.catalog.forget_origins();
            (record.app, now, true)
        }
        Registered::Existing(existing) => {
            tracing::info!(target: "valet::audit", client_id = %existing.app.client_id,
                ip = %peer.ip(), "identical registration: the existing application returned");
            state.catalog.forget_client(&existing.app.client_id);
            (existing.app, existing.created_at, false)
        }
        Registered::TokenRefused => {
            return Err(invalid_token("the initial access token is not valid"));
        }
    };
    if created {
        tracing::info!(target: "valet::audit", client_id = %app.client_id, ip = %peer.ip(),
            profile = %app.profile, quarantined = app.registration.quarantined,
            "application registered itself");
        state.audit.event(
            now,
            "client.register",
            "anonymous".into(),
            Some(peer.ip()),
            format!("client:{}", app.client_id),
            serde_json::json!({
                "name": app.name,
                "profile": app.profile,
                "redirect_uris": app.redirect_uris,
                "quarantined": app.registration.quarantined,
            }),
        );
    }
    let uri = client_uri(&state, &app.client_id);
    let body = registration::response(
        &app,
        &Issued {
            client_id_issued_at: issued_at,
            client_secret: secret.as_ref().filter(|_| created).map(|s| s.expose()),
            registration_access_token: &token,
            registration_client_uri: &uri,
        },
    );
    Ok(no_store((StatusCode::CREATED, Json(body)).into_response()))
}

/// The application of `client_id` if `headers` carry its registration access token;
/// `401 invalid_token` otherwise, the same whether or not it exists (RFC 7592 §3).
async fn authorized(
    state: &AppState,
    client_id: &str,
    headers: &HeaderMap,
    ip: IpAddr,
) -> Result<(ClientRecord, TokenHash), ApiError> {
    const WRONG: &str = "the registration access token is not valid for this client";
    if state.settings.registration.mode == Mode::Off {
        return Err(off());
    }
    state.throttle.check(client_id, ip).map_err(|secs| {
        ApiError::Throttled(secs, "too many failed registration accesses; retry later")
    })?;
    let Some(token) = bearer(headers)? else {
        return Err(invalid_token(WRONG));
    };
    let presented = sha256(token.as_bytes());
    let stored = state.store.registration(client_id).await?;
    let matches = stored.as_ref().is_some_and(|r| {
        aws_lc_rs::constant_time::verify_slices_are_equal(
            r.token_hash.as_bytes(),
            presented.as_bytes(),
        )
        .is_ok()
    });
    let client = if matches {
        state.store.client(client_id).await?
    } else {
        None
    };
    let Some(client) = client else {
        state.throttle.failed(client_id, ip);
        return Err(invalid_token(WRONG));
    };
    Ok((client, presented))
}

fn read_response(state: &AppState, app: &Application, created_at: i64, token: &str) -> Response {
    let uri = client_uri(state, &app.client_id);
    let body = registration::response(
        app,
        &Issued {
            client_id_issued_at: created_at,
            client_secret: None,
            registration_access_token: token,
            registration_client_uri: &uri,
        },
    );
    no_store(Json(body).into_response())
}

/// RFC 7592 §2.1: the current registration.
pub async fn read(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (client, _) = authorized(&state, &client_id, &headers, peer.ip()).await?;
    let token = bearer(&headers)?.unwrap_or_default();
    Ok(read_response(
        &state,
        &client.app,
        client.created_at,
        &token,
    ))
}

/// RFC 7592 §2.2: the body replaces the registration (omitted values are dropped), the
/// client_id must be the one in the path, a secret sent must be the application's, and
/// the registration access token is rotated. Public stays public, confidential stays
/// confidential (the secret is kept). An admin's verification does not survive a change
/// it did not see; a quarantined application stays quarantined.
pub async fn update(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (mut client, presented) = authorized(&state, &client_id, &headers, peer.ip()).await?;
    let (bytes, raw) = json_body(&headers, body)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if value.get("client_id").and_then(|v| v.as_str()) != Some(client_id.as_str()) {
        return Err(OAuthError::invalid_request(
            "the body must carry the client_id of the registration (RFC 7592 §2.2)",
        )
        .into());
    }
    if let Some(sent) = value.get("client_secret").and_then(|v| v.as_str()) {
        let ok = client
            .secret
            .as_ref()
            .is_some_and(|h| state.hasher.verify(sent, h));
        if !ok {
            return Err(OAuthError::invalid_request("the client_secret does not match").into());
        }
    }
    let apis = state.catalog.apis().await?;
    let settings = &state.settings.registration;
    let mut app = registration::application(&raw, client_id.clone(), &settings.policy(&apis))?;
    if app.is_confidential() != client.app.is_confidential() {
        return Err(OAuthError::invalid_client_metadata(
            "token_endpoint_auth_method cannot change between none and a secret; register anew",
        )
        .into());
    }
    app.registration.quarantined |= client.app.registration.quarantined;
    app.registration.verified = client.app.registration.verified && app == client.app;
    let now = state.clock.now();
    client.app = app;
    client.updated_at = now;
    let token = random_token(TOKEN_BYTES)?;
    if !state
        .store
        .update_registered_client(&client, &presented, &sha256(token.as_bytes()))
        .await?
    {
        // Another update rotated the token first.
        return Err(invalid_token(
            "the registration access token is not valid for this client",
        ));
    }
    state.catalog.forget_client(&client_id);
    tracing::info!(target: "valet::audit", %client_id, "self-registered application updated");
    Ok(read_response(
        &state,
        &client.app,
        client.created_at,
        &token,
    ))
}

/// RFC 7592 §2.3: deletes the application; `204`.
pub async fn delete(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, presented) = authorized(&state, &client_id, &headers, peer.ip()).await?;
    if !state
        .store
        .delete_registered_client(&client_id, &presented)
        .await?
    {
        return Err(invalid_token(
            "the registration access token is not valid for this client",
        ));
    }
    state.catalog.forget_client(&client_id);
    tracing::info!(target: "valet::audit", %client_id, "self-registered application deleted itself");
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}
