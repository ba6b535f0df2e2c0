//! `POST /oauth2/par` (RFC 9126): an application pushes its authorization request, signed
//! as a request object (RFC 9101) or as plain parameters, authenticated like at the token
//! endpoint; Valet checks it as the authorization endpoint would, keeps it for 60 seconds
//! under the hash of a random reference, and answers the `request_uri` that names it once
//! (§2.2, §4). A DPoP proof sent with it binds the code to the proof's key (RFC 9449
//! §10.1).

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::net::SocketAddr;
use valet_protocol::OAuthError;
use valet_protocol::authorize;
use valet_protocol::params::Params;
use valet_protocol::request_object::{self, PUSHED_LIFETIME, REQUEST_URI_PREFIX};
use valet_store::PushedRequestRecord;

use crate::client_auth::authenticate;
use crate::crypto::{random_token, sha256};
use crate::dpop;
use crate::error::{ApiError, no_store};
use crate::form::OAuthForm;
use crate::state::Shared;

/// RFC 9126 §2.2.
#[derive(Serialize)]
struct Pushed {
    request_uri: String,
    expires_in: i64,
}

pub async fn push(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    form: OAuthForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let client = authenticate(&state, &form, peer.ip(), now).await?;
    let app = &client.app;
    if app.registration.quarantined {
        return Err(OAuthError::unauthorized_client(crate::registration::QUARANTINED).into());
    }
    // §2.1: the client_id, when sent, is the authenticated application's.
    if form
        .params
        .get("client_id")
        .is_some_and(|id| id != app.client_id)
    {
        return Err(OAuthError::invalid_request(
            "client_id is not the application that authenticated",
        )
        .into());
    }
    request_object::check_pushed(&form.params)?;
    let signed;
    let params: &Params = match form.params.get("request") {
        Some(jwt) => {
            signed = crate::jar::parameters(&state, app, jwt, now).await?;
            &signed
        }
        None => &form.params,
    };
    let par_url = format!("{}{}", state.settings.issuer, form.path);
    let at = dpop::At {
        method: "POST",
        uri: &par_url,
        access_token: None,
        nonce: true,
        fapi2: app.is_fapi2() || state.settings.fapi2,
    };
    let proof = dpop::check(&state, &form.dpop, &at, now).await?;
    if let (Some(p), Some(jkt)) = (&proof, params.get("dpop_jkt")) {
        if p.jkt != jkt {
            return Err(valet_protocol::dpop::invalid(
                "dpop_jkt is not the thumbprint of the DPoP proof's key (RFC 9449 §10.1)",
            )
            .into());
        }
    }
    // Checked as the authorization endpoint will check it again when it is used.
    let (redirect_uri, sent) =
        authorize::redirect_uri(app, params).map_err(|page| OAuthError::invalid_request(page.0))?;
    let apis = state.catalog.apis().await?;
    let ctx = authorize::Context {
        apis: &apis,
        pushed: true,
        require_par: state.settings.require_par,
        fapi2: state.settings.fapi2,
        default_audience: &state.settings.issuer,
    };
    authorize::validate(app, params, redirect_uri, sent, &ctx).map_err(|r| r.error)?;
    let mut pairs: Vec<(String, String)> = params
        .pairs()
        .iter()
        .filter(|(n, _)| n != "request")
        .cloned()
        .collect();
    if let (Some(p), None) = (&proof, params.get("dpop_jkt")) {
        pairs.push(("dpop_jkt".into(), p.jkt.clone()));
    }
    if params.get("client_id").is_none() {
        pairs.push(("client_id".into(), app.client_id.clone()));
    }
    // §2.2: at least 128 bits; 32 random bytes here.
    let reference = random_token(32)?;
    state
        .store
        .push_request(&PushedRequestRecord {
            hash: sha256(reference.as_bytes()),
            client_id: app.client_id.clone(),
            params: serde_json::to_string(&pairs)
                .map_err(crate::fault::Fault::encode("pushed request"))?,
            expires_at: now + PUSHED_LIFETIME,
        })
        .await?;
    tracing::info!(target: "valet::audit", client_id = %app.client_id, "authorization request pushed");
    let body = Pushed {
        request_uri: format!("{REQUEST_URI_PREFIX}{reference}"),
        expires_in: PUSHED_LIFETIME,
    };
    Ok(no_store((StatusCode::CREATED, Json(body)).into_response()))
}
