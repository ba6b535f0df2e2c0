//! `GET|POST /oauth2/logout`: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0)
//! and the sign-out button of `/account`. The user confirms on a page (a cross-site link
//! cannot sign anyone out); afterwards the browser goes to `post_logout_redirect_uri` only
//! if a verified `id_token_hint` or `client_id` names an application that registered it,
//! byte for byte (checklist J10). An application's POST arrives cross-site, without the
//! `SameSite=Lax` session cookie, and is sent on as a GET, which carries it. Ending the
//! session also revokes the grants made in it that lack `offline_access`.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use valet_protocol::logout;
use valet_protocol::params::Params;
use valet_protocol::response::encode;

use crate::catalog::Lookup;
use crate::error::{ApiError, FormKind, Page};
use crate::interaction::{self, Interaction, Kind};
use crate::session::{self, Browser, with_cookies};
use crate::state::{AppState, Shared};
use crate::tokens::verify_id_token_hint;

use super::authorize::client_view;

/// Where to go after signing out, sealed into the confirmation form
/// (`Interaction::Logout`).
#[derive(Serialize, Deserialize)]
pub struct AfterLogout {
    pub redirect: Option<String>,
    pub state: Option<String>,
}

pub async fn get(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let raw = query.unwrap_or_default();
    request(&state, &headers, raw.as_bytes(), peer.ip(), false)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

pub async fn post(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    request(&state, &headers, &body, peer.ip(), true)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

fn refuse(state: &AppState, message: &str) -> Response {
    Page::BadSignOutRequest(message.to_owned()).into_page(&state.pages)
}

async fn request(
    state: &AppState,
    headers: &HeaderMap,
    raw: &[u8],
    ip: IpAddr,
    post: bool,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw, &[]).map_err(ApiError::OAuth)?;
    let now = state.clock.now();
    let browser = Browser::from_headers(state, headers, now).await?;
    // Our own forms (the confirmation page, the account page) carry a CSRF token.
    if let Some(csrf) = params.get("csrf") {
        let Some(b) = browser else {
            return Ok(state.pages.render(StatusCode::OK, "logged_out.html", ()));
        };
        if !b.check_csrf(state, Some(csrf)) {
            return Ok(Page::FormUnverified(FormKind::SignOut).into_page(&state.pages));
        }
        let after = match params.get("interaction") {
            Some(sealed) => {
                match interaction::open(state, &[Kind::Logout], &b.binding(), sealed, now)
                    .map(|o| o.interaction)
                {
                    Some(Interaction::Logout(a)) => a,
                    _ => return Ok(refuse(state, "The sign-out form could not be verified.")),
                }
            }
            None => AfterLogout {
                redirect: None,
                state: None,
            },
        };
        let cookie = session::sign_out(state, headers, now).await?;
        tracing::info!(target: "valet::audit", sub = %b.user.id, "signed out");
        let who = format!("user:{}", b.user.username);
        state.audit.event(
            now,
            "signout",
            who.clone(),
            None,
            who,
            serde_json::json!({}),
        );
        return Ok(with_cookies(finish(state, after), vec![cookie]));
    }

    // An application's request (RP-Initiated Logout §2).
    let hint = match params.get("id_token_hint") {
        None => None,
        Some(h) => match verify_id_token_hint(state, h, now) {
            Some(c) => Some(c),
            None => {
                return Ok(refuse(
                    state,
                    "The id_token_hint is not a valid ID token issued by this server.",
                ));
            }
        },
    };
    let client_id = match (params.get("client_id"), &hint) {
        (Some(id), Some(h)) if !h.aud.iter().any(|a| a == id) => {
            return Ok(refuse(
                state,
                "The client_id does not match the id_token_hint.",
            ));
        }
        (Some(id), _) => Some(id.to_owned()),
        (None, Some(h)) => h.aud.first().cloned(),
        (None, None) => None,
    };
    // A metadata document client_id is fetched here too: counted against the caller.
    let app = match &client_id {
        Some(id) => match state.catalog.lookup(id, ip).await? {
            Lookup::Found(c) => Some(c),
            Lookup::Unknown | Lookup::Refused(_) => None,
        },
        None => None,
    };
    let requested = params.get("post_logout_redirect_uri");
    let redirect = logout::post_logout_redirect(app.as_ref().map(|c| &c.app), requested);
    if requested.is_some() && redirect.is_none() {
        // RP-Initiated Logout 1.0 §3: without an id_token_hint (or a client_id) nothing
        // confirms whose URI it is, so there is no redirect; the page says which is missing
        // rather than calling the URI unregistered for an application nobody named.
        return Ok(refuse(
            state,
            match (&client_id, &app) {
                (None, _) => {
                    "A post_logout_redirect_uri needs an id_token_hint (or a client_id) \
                     naming the application that registered it."
                }
                (Some(_), None) => "The client_id is not a registered application.",
                (Some(_), Some(_)) => {
                    "The post_logout_redirect_uri is not registered for this application."
                }
            },
        ));
    }
    let after = AfterLogout {
        redirect: redirect.map(str::to_owned),
        state: params.get("state").map(str::to_owned),
    };
    let Some(b) = browser else {
        if post {
            // RP-Initiated Logout 1.0 §2: the OP MUST take the request by POST too. An
            // application's form POST is cross-site, and the session cookie is
            // `SameSite=Lax`, so a browser leaves it out: going straight on would send
            // the user back to the application still signed in here. The same request
            // as a top-level GET carries the cookie; without a session that GET goes
            // straight on.
            return Ok(again_as_get(state, &params));
        }
        // Nobody to sign out: go straight on.
        return Ok(finish(state, after));
    };
    #[derive(Serialize)]
    struct View<'a> {
        client: Option<super::authorize::ClientView<'a>>,
        csrf: String,
        interaction: String,
    }
    let client = match &app {
        Some(c) => Some(client_view(state, &c.app).await),
        None => None,
    };
    Ok(state.pages.render(
        StatusCode::OK,
        "logout.html",
        View {
            client,
            csrf: b.csrf(state),
            interaction: interaction::seal(state, &b.binding(), &Interaction::Logout(after), now)?,
        },
    ))
}

/// A 303 to this endpoint with the application's parameters in the query.
fn again_as_get(state: &AppState, params: &Params) -> Response {
    let pairs: Vec<(String, String)> = [
        "id_token_hint",
        "logout_hint",
        "client_id",
        "post_logout_redirect_uri",
        "state",
        "ui_locales",
    ]
    .iter()
    .filter_map(|k| params.get(k).map(|v| ((*k).to_owned(), v.to_owned())))
    .collect();
    let url = format!("/oauth2/logout?{}", encode(&pairs));
    match HeaderValue::from_str(&url) {
        Ok(location) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            r.headers_mut().insert(header::LOCATION, location);
            r
        }
        Err(_) => refuse(state, "The sign-out request could not be read."),
    }
}

fn finish(state: &AppState, after: AfterLogout) -> Response {
    let Some(uri) = after.redirect else {
        return state.pages.render(StatusCode::OK, "logged_out.html", ());
    };
    let url = match after.state {
        Some(s) => {
            let sep = if uri.contains('?') { '&' } else { '?' };
            format!("{uri}{sep}{}", encode(&[("state".to_owned(), s)]))
        }
        None => uri,
    };
    match HeaderValue::from_str(&url) {
        Ok(location) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            r.headers_mut().insert(header::LOCATION, location);
            r
        }
        Err(_) => state.pages.render(StatusCode::OK, "logged_out.html", ()),
    }
}
