//! `GET|POST /userinfo` (OIDC Core §5.3): the signed-in user's claims for an access token
//! that carries `openid`. The token comes in the `Authorization: Bearer` header (or, on
//! POST, the form body, RFC 6750 §2.2), never in the URL (§2.3; checklist J8). Errors are
//! RFC 6750 §3 challenges.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use valet_protocol::OAuthError;
use valet_protocol::error::ErrorCode;
use valet_protocol::params::Params;
use valet_protocol::scope::Scope;

use crate::dpop;
use crate::error::{ApiError, no_store};
use crate::state::{AppState, Shared};
use crate::tokens::live_access_token;

pub async fn get(
    State(state): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    userinfo(&state, &headers, query.as_deref(), None).await
}

pub async fn post(
    State(state): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    userinfo(&state, &headers, query.as_deref(), Some(&body)).await
}

fn invalid_token(why: &'static str) -> ApiError {
    ApiError::Bearer(OAuthError::new(ErrorCode::InvalidToken, why), None)
}

async fn userinfo(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Option<&[u8]>,
) -> Result<Response, ApiError> {
    let in_query = query
        .and_then(|q| Params::parse_lenient(q.as_bytes()).ok())
        .is_some_and(|p| p.contains("access_token"));
    if in_query {
        return Err(ApiError::Bearer(
            OAuthError::invalid_request(
                "send the access token in the Authorization header, never in the URL",
            ),
            None,
        ));
    }
    // RFC 6750 §2.1 `Bearer`, or RFC 9449 §7.1 `DPoP` with a proof.
    let mut dpop_scheme = false;
    let from_header = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let v = v.to_str().unwrap_or("");
            match v.split_once(' ') {
                Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => {
                    Some(t.trim().to_owned())
                }
                Some((scheme, t)) if scheme.eq_ignore_ascii_case("dpop") => {
                    dpop_scheme = true;
                    Some(t.trim().to_owned())
                }
                _ => return Err(invalid_token("use the Bearer or the DPoP scheme")),
            }
        }
    };
    let from_body = match body {
        Some(b) if !b.is_empty() => Params::parse(b, &[])
            .map_err(|e| ApiError::Bearer(e, None))?
            .get("access_token")
            .map(str::to_owned),
        _ => None,
    };
    let token = match (from_header, from_body) {
        (Some(_), Some(_)) => {
            return Err(ApiError::Bearer(
                OAuthError::invalid_request("send the access token one way only"),
                None,
            ));
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => return Err(invalid_token("an access token is required")),
    };
    let now = state.clock.now();
    let as_challenge = |e: OAuthError| {
        if dpop_scheme {
            ApiError::Dpop(e, None)
        } else {
            ApiError::Bearer(e, None)
        }
    };
    let proof = if dpop_scheme {
        let uri = format!("{}/userinfo", state.settings.issuer);
        let at = dpop::At {
            method: if body.is_some() { "POST" } else { "GET" },
            uri: &uri,
            access_token: Some(&token),
            nonce: false,
            fapi2: state.settings.fapi2,
        };
        match dpop::check(state, &dpop::headers(headers), &at, now).await {
            Ok(Some(p)) => Some(p),
            Ok(None) => {
                return Err(as_challenge(valet_protocol::dpop::invalid(
                    "the DPoP scheme needs a DPoP proof header",
                )));
            }
            Err(ApiError::OAuth(e)) => return Err(as_challenge(e)),
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let Some(claims) = live_access_token(state, &token, now).await? else {
        return Err(as_challenge(OAuthError::new(
            ErrorCode::InvalidToken,
            "the access token is invalid, expired or revoked; get a new one with the refresh \
             token or by signing the user in again",
        )));
    };
    // RFC 9449 §7.1: a bound token only with a proof of its key, under `DPoP`.
    valet_protocol::dpop::check_binding(
        claims.cnf.as_ref().map(|c| c.jkt.as_str()),
        proof.as_ref().map(|p| p.jkt.as_str()),
    )
    .map_err(as_challenge)?;
    let scope = Scope::parse(claims.scope.as_deref().unwrap_or("")).unwrap_or_default();
    if !scope.contains("openid") {
        let scoped = if dpop_scheme {
            ApiError::Dpop
        } else {
            ApiError::Bearer
        };
        return Err(scoped(
            OAuthError::new(
                ErrorCode::InsufficientScope,
                "the access token lacks the openid scope",
            ),
            Some("openid"),
        ));
    }
    let Some(user) = state.users.by_sub(&claims.sub).await? else {
        return Err(invalid_token("the user of this token no longer exists"));
    };
    let mut body = user.claims_for(&scope);
    let app = state.catalog.client(&claims.client_id).await?;
    // FAPI 2.0 §5.4.1: a fapi2 application's proofs are never RS256.
    if let (Some(app), Some(p)) = (&app, &proof) {
        if app.app.is_fapi2() && !dpop::fapi2_allows(&p.alg) {
            return Err(ApiError::Dpop(
                valet_protocol::dpop::invalid(
                    "under the FAPI 2.0 profile a DPoP proof is signed with PS256, ES256 or EdDSA",
                ),
                None,
            ));
        }
    }
    // OIDC Core §8: a pairwise application sees its own `sub` for the user.
    if let Some(app) = app {
        body.insert(
            "sub".into(),
            crate::pairwise::subject(state, &app.app, &user.id).into(),
        );
    }
    Ok(no_store(Json(body).into_response()))
}
