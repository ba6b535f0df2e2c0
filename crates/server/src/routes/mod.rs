//! One file per endpoint; `router` puts them on their paths.

pub(crate) mod account;
pub(crate) mod account_mfa;
mod admin;
pub(crate) mod authorize;
mod consent;
pub(crate) mod console;
pub(crate) mod device;
mod device_authorization;
mod discovery;
mod email;
pub(crate) mod health;
mod introspect;
pub(crate) mod login;
pub(crate) mod logout;
mod par;
pub(crate) mod passkey;
mod password;
pub(crate) mod register;
mod revoke;
pub(crate) mod second_factor;
mod signup;
mod token;
pub(crate) mod upstream;
mod userinfo;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::form::MAX_FORM_BYTES;
use crate::state::Shared;

/// The web console's templates (`templates/admin/`), registered by `pages.rs`.
pub use console::TEMPLATES as CONSOLE_TEMPLATES;

pub fn router(state: Shared) -> Router {
    let tls = state.settings.tls.is_some();
    // What a browser application may call from its own origin (CORS).
    let api = Router::new()
        .route("/oauth2/token", post(token::token).fallback(post_only))
        .route(
            "/oauth2/device_authorization",
            post(device_authorization::device_authorization).fallback(post_only),
        )
        .route(
            "/oauth2/introspect",
            post(introspect::introspect).fallback(post_only),
        )
        .route("/oauth2/revoke", post(revoke::revoke).fallback(post_only))
        .route("/oauth2/par", post(par::push).fallback(post_only))
        .route("/userinfo", get(userinfo::get).post(userinfo::post))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::cors::cors,
        ));
    // Public documents and dynamic client registration (RFC 7591 §3, RFC 7592 §2): CORS
    // for any origin, without credentials.
    let public = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::metadata),
        )
        .route("/oauth2/jwks", get(discovery::jwks))
        .route(
            "/oauth2/register",
            post(register::register).fallback(post_only),
        )
        .route(
            "/oauth2/register/{client_id}",
            get(register::read)
                .put(register::update)
                .delete(register::delete),
        )
        .layer(axum::middleware::from_fn(crate::cors::public));
    // Pages and the authorization endpoint: never CORS (checklist A11).
    let pages = Router::new()
        .route(
            "/oauth2/authorize",
            get(authorize::get).post(authorize::post),
        )
        .route("/login", get(login::show).post(login::submit))
        .route("/consent", post(consent::submit))
        .route("/device", get(device::show).post(device::submit))
        .route("/account", get(account::show))
        .route("/account/revoke", post(account::revoke))
        .route("/account/email", get(email::show).post(email::send))
        .route(
            "/email/verify",
            get(email::confirm_form).post(email::confirm),
        )
        .route(
            "/password/forgot",
            get(password::forgot_form).post(password::forgot),
        )
        .route(
            "/password/reset",
            get(password::reset_form).post(password::reset),
        )
        .route("/login/passkey", post(passkey::submit))
        .route("/login/upstream/{id}", post(upstream::start))
        .route("/login/upstream/{id}/callback", get(upstream::callback))
        .route("/account/upstreams/{id}/link", post(upstream::link))
        .route("/account/upstreams/{id}/unlink", post(upstream::unlink))
        .route("/login/second-factor", post(second_factor::submit))
        .route("/login/continue", post(second_factor::resume))
        .route(
            "/account/authenticator",
            get(account_mfa::show).post(account_mfa::enrol),
        )
        .route("/account/authenticator/remove", post(account_mfa::remove))
        .route("/account/recovery-codes", post(account_mfa::regenerate))
        .route("/account/passkeys", post(account::add_passkey))
        .route("/account/passkeys/rename", post(account::rename_passkey))
        .route("/account/passkeys/remove", post(account::remove_passkey))
        .route("/account/withdraw-scope", post(account::withdraw_scope))
        .route("/account/password", post(account::change_password))
        .route("/account/sessions/end", post(account::end_session))
        .route("/account/sessions/end-all", post(account::end_all_sessions))
        .route("/oauth2/logout", get(logout::get).post(logout::post))
        .route("/assets/{name}", get(crate::pages::asset))
        .route("/logo/{client_id}", get(crate::logos::serve))
        .merge(signup::router())
        .merge(console::router());
    Router::new()
        .merge(api)
        .merge(public)
        .merge(pages)
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .nest("/admin/api", admin::router())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            std::time::Duration::from_secs(state.settings.client_timeout as u64),
            crate::body::bounded,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::observe,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::request_id::assign,
        ))
        .layer(axum::middleware::map_response(common_headers))
        .layer(axum::middleware::map_response(
            move |r: Response| async move { if tls { hsts(r) } else { r } },
        ))
        .with_state(state)
}

/// RFC 6749 §3.2: the token endpoint takes POST only (checklist F1).
async fn post_only() -> Response {
    let mut r = ApiError::OAuth(valet_protocol::OAuthError::invalid_request(
        "this endpoint accepts POST only",
    ))
    .into_response();
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    r
}

/// An unknown path: a page for a browser (it asked for HTML), JSON for everything else.
async fn not_found(
    axum::extract::State(state): axum::extract::State<Shared>,
    headers: axum::http::HeaderMap,
) -> Response {
    let wants_html = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"));
    if wants_html {
        ApiError::NotFound("There is no page at this address.".into()).into_page(&state.pages)
    } else {
        ApiError::NotFound("no such endpoint".into()).into_response()
    }
}

async fn common_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// RFC 6797: once served over TLS, browsers must keep using TLS (checklist N1).
fn hsts(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    r
}
