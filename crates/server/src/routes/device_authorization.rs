//! `POST /oauth2/device_authorization` (RFC 8628 §3.1–§3.2): a device asks for a device
//! code and a user code. The application authenticates as at the token endpoint (public
//! ones with `none`); `scope` and `resource` select as for the other grants. The device
//! code (256 bits) is stored as its SHA-256, the user code as an HMAC; the answer is JSON
//! with `Cache-Control: no-store`. A public application's client_id is no secret and each
//! request writes a row, so requests are counted per address in the store (60 in 10
//! minutes), before anything is written.

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use valet_protocol::device;
use valet_store::{
    DeviceCodeRecord, DeviceStatus, StoreError, ThrottleDecision, ThrottleRule, TokenHash,
};

use crate::client_auth::authenticate;
use crate::crypto::{b64, random_bytes, random_token, sha256};
use crate::error::{ApiError, no_store};
use crate::fault::Fault;
use crate::form::OAuthForm;
use crate::state::{AppState, Shared};
use crate::throttle::address_key;

/// Device authorizations one address may start per window, and the window (seconds).
pub const PER_ADDRESS: u32 = 60;
pub const WINDOW: i64 = 600;

/// Draws of a user code before giving up: a collision with a live code is rare (20^8
/// codes), several in a row mean something is wrong.
const DRAWS: usize = 5;

pub async fn device_authorization(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    form: OAuthForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let client = authenticate(&state, &form, peer.ip(), now).await?;
    let app = &client.app;
    let apis = state.catalog.apis().await?;
    let details = device::request(app, &form.params, &apis, &state.settings.issuer)?;
    let rule = ThrottleRule {
        key: b64(&state
            .user_codes
            .hash(&format!(
                "device-authorization\u{0}{}",
                address_key(peer.ip())
            ))
            .0),
        window: WINDOW,
        limit: PER_ADDRESS,
        free: u32::MAX,
        max_spacing: 0,
    };
    if let ThrottleDecision::Refused { retry_after } =
        state.store.throttle_attempt(&[rule], now).await?
    {
        tracing::info!(target: "valet::audit", client_id = %app.client_id, ip = %peer.ip(),
            retry_after, "device authorizations throttled");
        return Err(ApiError::Throttled(
            u64::try_from(retry_after).unwrap_or(1),
            "too many device authorizations from this address; retry later",
        ));
    }
    let device_code = random_token(device::DEVICE_CODE_BYTES)?;
    let mut record = DeviceCodeRecord {
        device_hash: sha256(device_code.as_bytes()),
        user_code_hash: TokenHash::new(Vec::new()),
        client_id: app.client_id.clone(),
        details: serde_json::to_string(&details).map_err(Fault::encode("device details"))?,
        status: DeviceStatus::Pending,
        user_id: None,
        auth_time: None,
        amr: vec![],
        grant_id: None,
        interval: device::INTERVAL,
        // The interval counts from this response (the contract).
        last_poll_at: now,
        created_at: now,
        expires_at: now + device::DEVICE_CODE_TTL,
        redeemed_at: None,
    };
    let user_code = insert_with_fresh_user_code(&state, &mut record).await?;
    tracing::info!(target: "valet::audit", client_id = %app.client_id,
        scope = %details.scope.to_wire(), "device authorization started");
    let body = device::response(&state.settings.issuer, device_code, &user_code);
    Ok(no_store(Json(body).into_response()))
}

/// Stores `record` under a freshly drawn user code (drawn again if it collides with one
/// still stored); returns the user code in its stored form.
async fn insert_with_fresh_user_code(
    state: &AppState,
    record: &mut DeviceCodeRecord,
) -> Result<String, ApiError> {
    for draw in 1..=DRAWS {
        let random = random_bytes(device::USER_CODE_RANDOM_BYTES)?;
        let Some(user_code) = device::user_code(&random) else {
            continue;
        };
        record.user_code_hash = user_code_hash(state, &user_code);
        match state.store.insert_device_code(record).await {
            Ok(()) => return Ok(user_code),
            Err(StoreError::Conflict(_)) if draw < DRAWS => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::invariant("could not draw a unique user code"))
}

/// The stored form of a user code (normalised: `device::normalize`).
pub fn user_code_hash(state: &AppState, user_code: &str) -> TokenHash {
    TokenHash::new(
        state
            .user_codes
            .hash(&format!("user-code\u{0}{user_code}"))
            .0,
    )
}
