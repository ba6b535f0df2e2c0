//! `GET|POST /oauth2/authorize` (RFC 6749 §3.1, §4.1.1; OIDC Core §3.1.2). The protocol
//! crate validates in the order that keeps Valet from being an open redirector (client,
//! then redirect URI, then the rest) and decides the next step; this file renders it:
//! the login page, the consent page, or the response to the application.
//!
//! The same continuation (`proceed`) serves the login and consent forms, which carry the
//! validated request as an `Interaction::Authorize`, sealed and bound to the browser
//! (`interaction.rs`); a submitted form opens once, within 15 minutes, and its request is
//! checked again against the current registration (`recheck`) before anything is issued.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};
use valet_protocol::application::Application;
use valet_protocol::authorization_code::{CODE_TTL, CodeDetails};
use valet_protocol::authorize::{self, AuthorizationRequest, Decision, ResponseType, SignedIn};
use valet_protocol::consent;
use valet_protocol::error::ErrorCode;
use valet_protocol::implicit;
use valet_protocol::mfa;
use valet_protocol::params::Params;
use valet_protocol::response::{self, Delivery};
use valet_protocol::scope::{Scope, oidc_scope_description};
use valet_protocol::token::Authentication;
use valet_protocol::{OAuthError, UnixTime};
use valet_store::{CodeRecord, GrantRecord};

use crate::catalog::Lookup;
use crate::crypto::{random_token, sha256};
use crate::error::{ApiError, Page};
use crate::fault::Fault;
use crate::interaction::{self, Interaction};
use crate::issue;
use crate::routes::second_factor::{self, Then};
use crate::session::{Browser, with_cookies};
use crate::state::{AppState, Shared};
use crate::tokens::verify_id_token_hint;

pub async fn get(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let raw = query.unwrap_or_default();
    authorize(&state, &headers, raw.as_bytes(), peer.ip())
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

/// RFC 6749 §3.1 and OIDC Core §3.1.2.1: POST behaves exactly like GET (checklist B7).
pub async fn post(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    authorize(&state, &headers, &body, peer.ip())
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

/// An error page for a request whose client or redirect URI could not be verified
/// (checklist A1-A7): nothing is redirected.
fn refuse(state: &AppState, message: &str) -> Response {
    ApiError::from(Page::BadSignInRequest(message.to_owned())).into_page(&state.pages)
}

async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    raw: &[u8],
    ip: IpAddr,
) -> Result<Response, ApiError> {
    let params = match Params::parse_lenient(raw) {
        Ok(p) => p,
        Err(e) => return Ok(refuse(state, e.description())),
    };
    let client_id = match authorize::client_id(&params) {
        Ok(id) => id,
        Err(page) => return Ok(refuse(state, &page.0)),
    };
    // A client_id that is an https URL is resolved through its metadata document; one
    // that cannot be used is an error page too (checklist A1-A7: its redirect URIs are
    // not verified, so nothing is redirected).
    let client = match state.catalog.lookup(client_id, ip).await? {
        Lookup::Found(c) => c,
        Lookup::Unknown => {
            return Ok(refuse(
                state,
                &format!(
                    "No application with this client_id is registered with {}.",
                    state.pages.brand_name()
                ),
            ));
        }
        Lookup::Refused(why) => {
            return Ok(refuse(
                state,
                &format!("The application's client metadata document cannot be used: {why}"),
            ));
        }
    };
    // Quarantine (issue 14): a page, never a redirect to a URI nobody approved.
    if client.app.registration.quarantined {
        return Ok(refuse(state, crate::registration::QUARANTINED));
    }
    let now = state.clock.now();
    // A pushed request (RFC 9126 §4) or a request object (RFC 9101 §6.3): their
    // parameters are the only ones honoured. Either failing is a page: the redirect URI
    // inside was not verified.
    let outer = params.clone();
    let (params, pushed) = match open_request(state, &client.app, params, now).await {
        Ok(p) => p,
        // OIDC Core §3.1.2.6: `invalid_request_object` goes back to the redirect URI when
        // the request's own one verifies; anything else (an unknown or used
        // `request_uri`: whose redirect URI would it be?) is a page.
        Err(ApiError::OAuth(e)) => {
            let redirect = match e.code {
                ErrorCode::InvalidRequestObject | ErrorCode::RequestNotSupported => {
                    authorize::redirect_uri(&client.app, &outer).ok()
                }
                _ => None,
            };
            return Ok(match redirect {
                Some((redirect_uri, _)) => {
                    let r = authorize::Redirected {
                        redirect_uri,
                        mode: authorize::ResponseMode::Query,
                        state: outer.get("state").map(str::to_owned),
                        error: e,
                    };
                    deliver(state, response::deliver_error(&r, &state.settings.issuer))
                }
                None => refuse(state, &format!("{}: {}", e.code.as_str(), e.description())),
            });
        }
        Err(e) => return Err(e),
    };
    let (redirect_uri, sent) = match authorize::redirect_uri(&client.app, &params) {
        Ok(r) => r,
        Err(page) => return Ok(refuse(state, &page.0)),
    };
    let apis = state.catalog.apis().await?;
    let ctx = authorize::Context {
        apis: &apis,
        pushed,
        require_par: state.settings.require_par,
        fapi2: state.settings.fapi2,
        default_audience: &state.settings.issuer,
    };
    let req = match authorize::validate(&client.app, &params, redirect_uri, sent, &ctx) {
        Ok(r) => r,
        Err(e) => {
            return Ok(deliver(
                state,
                response::deliver_error(&e, &state.settings.issuer),
            ));
        }
    };
    let browser = Browser::from_headers(state, headers, now).await?;
    proceed(
        state,
        headers,
        &client.app,
        req,
        browser,
        false,
        vec![],
        now,
    )
    .await
}

/// The parameters a request stands for: those pushed earlier when it names a
/// `request_uri` of this server (taken once: RFC 9126 §4; the application must be the one
/// that pushed it), those of its signed request object (RFC 9101), or its own. The flag
/// says whether they were pushed.
async fn open_request(
    state: &AppState,
    app: &Application,
    params: Params,
    now: UnixTime,
) -> Result<(Params, bool), ApiError> {
    use valet_protocol::request_object::{invalid_request_uri, pushed_reference};
    if let Some(reference) = params.get("request_uri").and_then(pushed_reference) {
        let taken = state
            .store
            .take_pushed_request(&sha256(reference.as_bytes()), now)
            .await?;
        let Some(record) = taken.filter(|r| r.client_id == app.client_id) else {
            return Err(invalid_request_uri(
                "the request_uri is unknown, expired, already used or another \
                 application's: push the authorization request again",
            )
            .into());
        };
        let pairs: Vec<(String, String)> = serde_json::from_str(&record.params)
            .map_err(|_| invalid_request_uri("the pushed request cannot be read"))?;
        return Ok((Params::from_pairs(pairs)?, true));
    }
    if let Some(jwt) = params.get("request") {
        return Ok((crate::jar::parameters(state, app, jwt, now).await?, false));
    }
    Ok((params, false))
}

/// Takes a validated request as far as it can go for this browser: to the login page, the
/// consent page, or the application. `just_signed_in` is true right after the login form;
/// `now` is the request's.
#[allow(clippy::too_many_arguments)]
pub async fn proceed(
    state: &AppState,
    headers: &HeaderMap,
    app: &Application,
    req: AuthorizationRequest,
    browser: Option<Browser>,
    just_signed_in: bool,
    cookies: Vec<HeaderValue>,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let hint_subject = match &req.id_token_hint {
        None => None,
        Some(hint) => match verify_id_token_hint(state, hint, now) {
            // A pairwise application's hint names its own `sub` of the user (OIDC Core
            // §8.1): the signed-in user is the one named when theirs matches.
            Some(h) => Some(match &browser {
                Some(b) if crate::pairwise::subject(state, app, &b.user.id) == h.sub => {
                    b.user.id.clone()
                }
                _ => h.sub,
            }),
            None => {
                let e = req.error(OAuthError::invalid_request(
                    "id_token_hint is not a valid ID token issued by this server",
                ));
                return Ok(with_cookies(
                    deliver(state, response::deliver_error(&e, &state.settings.issuer)),
                    cookies,
                ));
            }
        },
    };
    // The registration firewall: a self-registered application no admin verified is asked
    // about every time, and none is ever trusted (`protocol::consent`).
    let consented = match &browser {
        Some(b) if consent::remembers_consent(app) => state
            .store
            .consent(&b.user.id, &app.client_id)
            .await?
            .and_then(|c| Scope::parse(&c.scope).ok()),
        _ => None,
    };
    // Second factors (issue 16): an application that requires one cannot be signed in
    // to on a server that turned them off.
    if app.require_mfa && state.settings.mfa == mfa::Policy::Off {
        let e = req.error(OAuthError::new(
            ErrorCode::AccessDenied,
            "this application requires a second factor, and second factors are turned off",
        ));
        let d = deliver(state, response::deliver_error(&e, &state.settings.issuer));
        return Ok(with_cookies(d, cookies));
    }
    let two_factors = state.settings.mfa == mfa::Policy::Required
        || (state.settings.mfa != mfa::Policy::Off && mfa::demanded(app, &req));
    let signed_in = browser.as_ref().map(|b| SignedIn {
        user_id: &b.user.id,
        auth_time: b.session.auth_time,
        just_now: just_signed_in,
        two_factors: mfa::has_two_factors(&b.session.amr),
    });
    let decision = authorize::decide(
        &req,
        signed_in.as_ref(),
        hint_subject.as_deref(),
        consented.as_ref(),
        consent::skips_consent(app),
        two_factors,
        now,
    );
    let r = match (decision, browser) {
        (Decision::Login, _) => login_page(state, headers, app, req, now).await?,
        // Step-up: the session's password stands (unless max_age said otherwise, then
        // `decide` asked for the login page); the second factor, or its enrolment, comes
        // before anything is issued.
        (Decision::SecondFactor, Some(b)) => {
            let enrol = !crate::mfa::enrolled(state, &b.user.id).await?;
            let then = Then::Authorize(req);
            second_factor::start(
                state,
                headers,
                &b.user,
                b.session.auth_time,
                then,
                enrol,
                now,
            )
            .await?
        }
        (Decision::Consent, Some(b)) => consent_page(state, app, &req, &b, now).await?,
        (Decision::Issue, Some(b)) => respond(state, app, &req, &b, now).await?,
        (Decision::Error(e), _) => deliver(
            state,
            response::deliver_error(&req.error(e), &state.settings.issuer),
        ),
        // `decide` asks for consent or issues only for a signed-in user.
        (_, None) => login_page(state, headers, app, req, now).await?,
    };
    Ok(with_cookies(r, cookies))
}

/// A request sealed into a login or consent form, checked again against the
/// application's registration as it is now, before anything is issued (issue 12 item 10;
/// `authorize::recheck`): `Some` is what to answer instead, an error page or the error
/// redirected to the still-registered redirect URI.
pub fn recheck(
    state: &AppState,
    app: &Application,
    req: &AuthorizationRequest,
) -> Option<Response> {
    match authorize::recheck(app, req) {
        Ok(()) => None,
        Err(authorize::Stale::Page(page)) => Some(refuse(state, &page.0)),
        Err(authorize::Stale::Redirect(e)) => Some(deliver(
            state,
            response::deliver_error(&e, &state.settings.issuer),
        )),
    }
}

#[derive(Serialize)]
pub struct ClientView<'a> {
    client_id: &'a str,
    name: &'a str,
    /// Valet's own URL of the application's logo (`logos.rs`); without one the page
    /// shows the initial.
    logo: Option<String>,
    website: Option<&'a str>,
    policy_uri: Option<&'a str>,
    description: Option<&'a str>,
}

/// What a page shows of `app`; its logo is waited for at most `logos::PAGE_WAIT`.
pub async fn client_view<'a>(state: &AppState, app: &'a Application) -> ClientView<'a> {
    ClientView {
        client_id: &app.client_id,
        name: &app.name,
        logo: state.logos.page_url(app, crate::logos::PAGE_WAIT).await,
        website: app.website.as_deref(),
        policy_uri: app.policy_uri.as_deref(),
        description: app.description.as_deref(),
    }
}

/// The login page for this request (`interaction::login_page`).
async fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    app: &Application,
    req: AuthorizationRequest,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let login = Interaction::Authorize(req);
    interaction::login_page(state, headers, app, &login, None, None, now).await
}

#[derive(Serialize)]
pub struct ScopeView {
    pub name: String,
    pub description: String,
}

/// Human descriptions of scopes: OpenID Connect's built in, APIs' as registered.
pub async fn describe(state: &AppState, scope: &Scope) -> Result<Vec<ScopeView>, ApiError> {
    let apis = state.catalog.apis().await?;
    Ok(scope
        .iter()
        .map(|s| {
            let description = oidc_scope_description(s)
                .map(str::to_owned)
                .or_else(|| {
                    apis.iter()
                        .flat_map(|a| a.scopes.iter())
                        .find(|d| d.name == s)
                        .map(|d| d.description.clone())
                })
                .unwrap_or_else(|| s.to_owned());
            ScopeView {
                name: s.to_owned(),
                description,
            }
        })
        .collect())
}

async fn consent_page(
    state: &AppState,
    app: &Application,
    req: &AuthorizationRequest,
    b: &Browser,
    now: UnixTime,
) -> Result<Response, ApiError> {
    #[derive(Serialize)]
    struct UserView<'a> {
        display: &'a str,
    }
    #[derive(Serialize)]
    struct ProvenanceView {
        self_registered: bool,
        verified: bool,
        redirect_host: Option<String>,
        client_host: Option<String>,
    }
    #[derive(Serialize)]
    struct View<'a> {
        client: ClientView<'a>,
        provenance: ProvenanceView,
        user: UserView<'a>,
        scopes: Vec<ScopeView>,
        csrf: String,
        interaction: String,
    }
    let p = consent::provenance(app, &req.redirect_uri);
    let view = View {
        client: client_view(state, app).await,
        provenance: ProvenanceView {
            self_registered: p.self_registered,
            verified: p.verified,
            redirect_host: p.redirect_host,
            client_host: p.client_host,
        },
        user: UserView {
            display: b.user.claims.name.as_deref().unwrap_or(&b.user.username),
        },
        scopes: describe(state, &req.scope).await?,
        csrf: b.csrf(state),
        interaction: interaction::seal(
            state,
            &b.binding(),
            &Interaction::Authorize(req.clone()),
            now,
        )?,
    };
    Ok(state.pages.render(StatusCode::OK, "consent.html", view))
}

/// Issues the authorization response for a signed-in user who has consented.
pub async fn respond(
    state: &AppState,
    app: &Application,
    req: &AuthorizationRequest,
    b: &Browser,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let grant_id = random_token(16)?;
    let grant = GrantRecord {
        grant_id: grant_id.clone(),
        client_id: app.client_id.clone(),
        user_id: b.user.id.clone(),
        scope: req.scope.to_wire(),
        session: Some(b.session.id_hash.clone()),
        created_at: now,
        // Until the code's access token could expire; refresh tokens raise it.
        expires_at: now + CODE_TTL + state.settings.access_token_ttl,
    };
    let mut params: Vec<(String, String)> = Vec::new();
    if req.response_type == ResponseType::Code {
        let code = random_token(32)?;
        let details = CodeDetails::new(req, &b.user.id, b.session.auth_time, &b.session.amr);
        let record = CodeRecord {
            hash: sha256(code.as_bytes()),
            client_id: app.client_id.clone(),
            grant_id: grant_id.clone(),
            details: serde_json::to_string(&details).map_err(Fault::encode("code details"))?,
            expires_at: now + CODE_TTL,
        };
        state.store.insert_code(&record, Some(&grant)).await?;
        params.push(("code".into(), code));
    } else {
        // Implicit (OIDC Core §3.2.2.5): tokens in the fragment or a form post, never a
        // refresh token (RFC 6749 §4.2.2; checklist G9, I1).
        state.store.insert_grant(&grant).await?;
        let issuance = implicit::issuance(
            app,
            req,
            &b.user.id,
            &grant_id,
            Authentication::new(b.session.auth_time, &b.session.amr),
            b.user.claims_for(&req.scope),
        );
        let issued = issue::execute(state, app, &issuance, None, now)
            .await?
            .issued()?;
        params.extend(issued.authorization_response());
    }
    tracing::info!(target: "valet::audit", client_id = %app.client_id, sub = %b.user.id,
        grant_id = %grant_id, scope = %req.scope.to_wire(), "authorization granted");
    let delivery = response::deliver(
        &req.redirect_uri,
        req.response_mode,
        req.state.as_deref(),
        &state.settings.issuer,
        params,
    );
    Ok(deliver(state, delivery))
}

/// The user refused (checklist C8).
pub fn denied(state: &AppState, req: &AuthorizationRequest) -> Response {
    let e = req.error(OAuthError::new(
        ErrorCode::AccessDenied,
        "the user denied the request",
    ));
    deliver(state, response::deliver_error(&e, &state.settings.issuer))
}

/// Sends the browser back to the application: a 303 (never 307, RFC 9700 §4.12; checklist
/// C7) or an auto-submitting form (Form Post Response Mode).
pub fn deliver(state: &AppState, d: Delivery) -> Response {
    match d {
        Delivery::Redirect(url) => match HeaderValue::from_str(&url) {
            Ok(location) => {
                let mut r = StatusCode::SEE_OTHER.into_response();
                r.headers_mut().insert(header::LOCATION, location);
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                r
            }
            Err(_) => {
                ApiError::invariant("a redirect that is not a valid header").into_page(&state.pages)
            }
        },
        Delivery::FormPost {
            redirect_uri,
            params,
        } => {
            #[derive(Serialize)]
            struct View {
                redirect_uri: String,
                params: Vec<(String, String)>,
            }
            state.pages.render(
                StatusCode::OK,
                "form_post.html",
                View {
                    redirect_uri,
                    params,
                },
            )
        }
    }
}
