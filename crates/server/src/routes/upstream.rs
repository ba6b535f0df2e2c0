//! Signing in with an upstream identity provider (issue 18): `POST /login/upstream/{id}`
//! (the login page's "Continue with <name>"), `POST /account/upstreams/{id}/link` (the
//! account page), and the provider's answer at `GET /login/upstream/{id}/callback`.
//!
//! The round trip is one more interaction (`Interaction::UpstreamSignIn`, bound to the
//! login CSRF cookie, or `UpstreamLink`, bound to the session): its sealed value is the
//! `state` sent to the provider (RFC 6749 §10.12: bound to this browser), carrying the
//! `nonce` and the PKCE verifier (RFC 7636) and where the sign-in goes; it opens once and
//! for 15 minutes, so a replayed or foreign `state` signs nobody in. The provider's
//! answer is checked by `upstream::Provider::finish` (RFC 9207 `iss`, the code redeemed,
//! the ID token verified) and the person it names becomes a user by
//! `valet_protocol::upstream::decide`: linked, linked by a verified address when the
//! provider may, created just in time, or refused. Then the sign-in goes on as after a
//! password: a second factor when one is needed, a new session, where it was going.

use axum::Form;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use valet_protocol::UnixTime;
use valet_protocol::mfa;
use valet_protocol::upstream::{self as rules, Decision, Purpose, Refused};
use valet_store::{IdentityRecord, StoreError, UserRecord};

use crate::crypto::{b64, random_token};
use crate::error::{ApiError, FormKind, Page};
use crate::interaction::{self, Interaction, Kind, form_spent};
use crate::mfa::enrolled as mfa_enrolled;
use crate::routes::login::{self, Destination, Pending};
use crate::routes::second_factor::{self, Then};
use crate::session::{self, Browser, LoginCsrf, with_cookies};
use crate::state::{AppState, Shared};
use crate::upstream::{Provider, UpstreamError};
use crate::users::User;

/// One round trip to a provider, sealed as its `state`.
#[derive(Serialize, Deserialize)]
pub struct UpstreamStep {
    /// The provider's id: the answer must come back to its own callback.
    pub upstream: String,
    pub nonce: String,
    /// The PKCE code verifier (RFC 7636 §4.1); the provider saw only its S256 challenge.
    pub verifier: String,
    /// Where a sign-in goes afterwards (a link goes back to `/account`).
    pub then: Then,
}

/// A "Continue with <name>" button of the login page.
#[derive(Serialize)]
pub struct Button {
    id: String,
    name: String,
}

/// The login page's buttons, in the configured order.
pub fn buttons(state: &AppState) -> Vec<Button> {
    state
        .upstreams
        .all()
        .iter()
        .map(|p| Button {
            id: p.id().to_owned(),
            name: p.name().to_owned(),
        })
        .collect()
}

/// Whether some provider is offered by email domain (then the login page lets a person
/// continue with an address alone).
pub fn has_realms(state: &AppState) -> bool {
    state
        .upstreams
        .all()
        .iter()
        .any(|p| !p.settings.domains.is_empty())
}

fn callback_uri(state: &AppState, id: &str) -> String {
    format!(
        "{}/login/upstream/{id}/callback",
        state.settings.issuer.trim_end_matches('/')
    )
}

/// Seals a round trip to `provider` for the browser of `binding` as `kind`, and sends the
/// browser there (303).
async fn go(
    state: &AppState,
    provider: &Provider,
    then: Then,
    binding: &str,
    kind: Kind,
    login_hint: Option<&str>,
    now: UnixTime,
) -> Result<Result<Response, UpstreamError>, ApiError> {
    if let Err(e) = provider.ready(now).await {
        return Ok(Err(e));
    }
    let step = UpstreamStep {
        upstream: provider.id().to_owned(),
        nonce: random_token(24)?,
        verifier: random_token(32)?,
        then,
    };
    let challenge = b64(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        step.verifier.as_bytes(),
    )
    .as_ref());
    let nonce = step.nonce.clone();
    let sealed = match kind {
        Kind::UpstreamLink => Interaction::UpstreamLink(step),
        _ => Interaction::UpstreamSignIn(step),
    };
    let state_value = interaction::seal(state, binding, &sealed, now)?;
    let url = match provider
        .authorization_url(
            &callback_uri(state, provider.id()),
            &state_value,
            &nonce,
            &challenge,
            login_hint,
            now,
        )
        .await
    {
        Ok(u) => u,
        Err(e) => return Ok(Err(e)),
    };
    let mut r = StatusCode::SEE_OTHER.into_response();
    let location =
        HeaderValue::from_str(&url).map_err(|_| ApiError::invariant("an upstream URL"))?;
    r.headers_mut().insert(header::LOCATION, location);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(Ok(r))
}

#[derive(Deserialize)]
pub struct StartForm {
    csrf: Option<String>,
    /// The login form's own interaction (an authorization request, a device code).
    interaction: Option<String>,
    #[serde(default)]
    to: Destination,
}

/// `POST /login/upstream/{id}`: "Continue with <name>".
pub async fn start(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<StartForm>,
) -> Response {
    start_inner(&state, &id, &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn start_inner(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    form: StartForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let Some(provider) = state.upstreams.get(id).cloned() else {
        return Err(ApiError::NotFound(format!("no identity provider `{id}`")));
    };
    let csrf = LoginCsrf::from_headers(state, headers)?;
    if !csrf.check(form.csrf.as_deref()) {
        return Ok(Page::FormUnverified(FormKind::SignIn).into_page(&state.pages));
    }
    let pending = match login::pending(state, &csrf, form.interaction.as_deref(), now).await? {
        Ok(p) => p,
        Err(spent) => return Ok(spent),
    };
    sign_in_at(
        state, headers, &csrf, &provider, pending, form.to, None, now,
    )
    .await
}

/// Sends a signing-in browser to `provider`, for what its login form continued
/// (`pending`, already spent) or for `to`; `typed` is an address the person typed (home-
/// realm discovery), else the request's `login_hint` goes along. A provider that cannot
/// be reached answers the login page again, 503, saying so.
#[allow(clippy::too_many_arguments)]
pub async fn sign_in_at(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &LoginCsrf,
    provider: &Provider,
    pending: Option<Pending>,
    to: Destination,
    typed: Option<&str>,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let hint = typed.map(str::to_owned).or_else(|| match &pending {
        Some((_, Interaction::Authorize(r))) => r.login_hint.clone(),
        _ => None,
    });
    let app = pending.as_ref().map(|(c, _)| c.clone());
    let then = match (pending, to) {
        (None, Destination::Admin) => Then::Admin,
        (p, _) => Then::from_interaction(p.map(|(_, i)| i)),
    };
    match go(
        state,
        provider,
        then.clone(),
        &csrf.binding(),
        Kind::UpstreamSignIn,
        hint.as_deref(),
        now,
    )
    .await?
    {
        Ok(r) => Ok(with_cookies(r, csrf.cookie(state))),
        Err(e) => {
            let app = app.map(|c| c.app.clone());
            failed(state, headers, provider, app, then, e, now).await
        }
    }
}

/// Home-realm discovery for a login page about to be shown for `interaction`: when its
/// `login_hint` is an address of a domain a provider is offered for, the browser goes
/// straight there (`None`: show the page).
pub async fn home_realm(
    state: &AppState,
    headers: &HeaderMap,
    interaction: &Interaction,
    now: UnixTime,
) -> Result<Option<Response>, ApiError> {
    let Interaction::Authorize(req) = interaction else {
        return Ok(None);
    };
    let Some(hint) = req.login_hint.as_deref() else {
        return Ok(None);
    };
    let Some(provider) = state.upstreams.for_login(hint).cloned() else {
        return Ok(None);
    };
    let csrf = LoginCsrf::from_headers(state, headers)?;
    let then = Then::Authorize(req.clone());
    match go(
        state,
        &provider,
        then,
        &csrf.binding(),
        Kind::UpstreamSignIn,
        Some(hint),
        now,
    )
    .await?
    {
        Ok(r) => Ok(Some(with_cookies(r, csrf.cookie(state)))),
        // The provider is down: the login page, where other ways to sign in work.
        Err(_) => Ok(None),
    }
}

/// `POST /account/upstreams/{id}/link`: a signed-in user links an account at `id`.
pub async fn link(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    link_inner(&state, &id, &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
    #[serde(default)]
    subject: String,
}

async fn link_inner(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    form: CsrfForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let b = match crate::routes::account::signed_in_form(state, headers, form.csrf.as_deref(), now)
        .await?
    {
        Ok(b) => b,
        Err(r) => return Ok(r),
    };
    let Some(provider) = state.upstreams.get(id).cloned() else {
        return Err(ApiError::NotFound(format!("no identity provider `{id}`")));
    };
    match go(
        state,
        &provider,
        Then::Account,
        &b.binding(),
        Kind::UpstreamLink,
        None,
        now,
    )
    .await?
    {
        Ok(r) => Ok(r),
        Err(e) => account_problem(state, &b, &provider, &e, now).await,
    }
}

/// `POST /account/upstreams/{id}/unlink`: removes one of the user's links, while another
/// way to sign in remains (a password, a passkey, another link).
pub async fn unlink(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    unlink_inner(&state, &id, peer.ip(), &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn unlink_inner(
    state: &AppState,
    id: &str,
    ip: IpAddr,
    headers: &HeaderMap,
    form: CsrfForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let b = match crate::routes::account::signed_in_form(state, headers, form.csrf.as_deref(), now)
        .await?
    {
        Ok(b) => b,
        Err(r) => return Ok(r),
    };
    let name = state
        .upstreams
        .get(id)
        .map_or_else(|| id.to_owned(), |p| p.name().to_owned());
    let links = state.store.identities_of_user(&b.user.id).await?;
    if !links
        .iter()
        .any(|l| l.upstream == id && l.subject == form.subject)
    {
        return bad(
            state,
            &b,
            format!("That {name} account is not linked to yours."),
            now,
        )
        .await;
    }
    if !other_way_in(state, &b.user.id, links.len()).await? {
        return bad(
            state,
            &b,
            format!(
                "{name} is your only way to sign in. Set a password or add a passkey first, \
                 or link another provider."
            ),
            now,
        )
        .await;
    }
    if !state
        .store
        .unlink_identity(&b.user.id, id, &form.subject)
        .await?
    {
        return bad(
            state,
            &b,
            format!("That {name} account is not linked to yours."),
            now,
        )
        .await;
    }
    tracing::info!(target: "valet::audit", sub = %b.user.id, upstream = %id, "upstream account unlinked");
    state.audit.event(
        now,
        "upstream.unlinked",
        format!("user:{}", b.user.username),
        Some(ip),
        format!("user:{}", b.user.username),
        serde_json::json!({ "upstream": id }),
    );
    crate::routes::account::page(
        state,
        &b,
        Some(format!("{name} is no longer linked.")),
        None,
        now,
    )
    .await
}

/// Whether the user can still sign in without one of their `links` links: a password, a
/// passkey, or a second link.
pub async fn other_way_in(state: &AppState, user_id: &str, links: usize) -> Result<bool, ApiError> {
    if links > 1 {
        return Ok(true);
    }
    let password = state
        .store
        .user(user_id)
        .await?
        .is_none_or(|u| u.password_hash.is_some());
    Ok(password || !state.store.passkeys_of_user(user_id).await?.is_empty())
}

async fn bad(
    state: &AppState,
    b: &Browser,
    message: String,
    now: UnixTime,
) -> Result<Response, ApiError> {
    crate::routes::account::page(
        state,
        b,
        None,
        Some((StatusCode::BAD_REQUEST, message)),
        now,
    )
    .await
}

/// The provider's answer, parsed: each parameter at most once (RFC 6749 §3.1).
#[derive(Default)]
struct Answer {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

fn parse_answer(query: Option<&str>) -> Option<Answer> {
    let mut a = Answer::default();
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let slot = match k.as_ref() {
            "code" => &mut a.code,
            "state" => &mut a.state,
            "iss" => &mut a.iss,
            "error" => &mut a.error,
            _ => continue,
        };
        if slot.replace(v.into_owned()).is_some() {
            return None;
        }
    }
    Some(a)
}

/// `GET /login/upstream/{id}/callback`: the provider's authorization response.
pub async fn callback(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    callback_inner(&state, &id, peer.ip(), &headers, query.as_deref())
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn callback_inner(
    state: &AppState,
    id: &str,
    ip: IpAddr,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let Some(provider) = state.upstreams.get(id).cloned() else {
        return Err(ApiError::NotFound(format!("no identity provider `{id}`")));
    };
    let Some(answer) = parse_answer(query) else {
        return Err(ApiError::BadInput(
            "the provider's answer repeats a parameter".into(),
        ));
    };
    let Some(sealed) = answer.state.as_deref() else {
        return Ok(form_spent(state));
    };
    // A sign-in's state is bound to the login CSRF cookie, a link's to the session.
    let csrf = LoginCsrf::from_headers(state, headers)?;
    let mut browser = None;
    let mut opened =
        interaction::open(state, &[Kind::UpstreamSignIn], &csrf.binding(), sealed, now);
    if opened.is_none() {
        if let Some(b) = Browser::from_headers(state, headers, now).await? {
            opened = interaction::open(state, &[Kind::UpstreamLink], &b.binding(), sealed, now);
            browser = Some(b);
        }
    }
    let Some(opened) = opened else {
        return Ok(form_spent(state));
    };
    if !opened.consume(state).await? {
        return Ok(form_spent(state));
    }
    let (step, linking) = match opened.interaction {
        Interaction::UpstreamSignIn(s) => (s, None),
        Interaction::UpstreamLink(s) => (s, browser),
        _ => return Ok(form_spent(state)),
    };
    if step.upstream != id {
        return Ok(form_spent(state));
    }
    let app = match step.then.client_id() {
        Some(cid) => match state.catalog.client(cid).await? {
            Some(c) => Some(c.app.clone()),
            None => return Ok(Page::ApplicationGone.into_page(&state.pages)),
        },
        None => None,
    };
    let outcome = async {
        if let Some(error) = &answer.error {
            return Err(UpstreamError::Refused(format!(
                "the provider answered `{}`",
                error
                    .chars()
                    .filter(|c| c.is_ascii_graphic())
                    .take(64)
                    .collect::<String>()
            )));
        }
        provider
            .check_response_issuer(answer.iss.as_deref(), now)
            .await?;
        let code = answer
            .code
            .as_deref()
            .ok_or_else(|| UpstreamError::Refused("the answer has no code".into()))?;
        provider
            .finish(
                code,
                &step.verifier,
                &callback_uri(state, id),
                &step.nonce,
                now,
            )
            .await
    }
    .await;
    let finished = match outcome {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(upstream = %id, error = %e, "an upstream sign-in did not complete");
            return match linking {
                Some(b) => account_problem(state, &b, &provider, &e, now).await,
                None => failed(state, headers, &provider, app, step.then, e, now).await,
            };
        }
    };
    let asserted = finished.asserted;
    let purpose = match &linking {
        Some(b) => Purpose::Link {
            user_id: b.user.id.clone(),
        },
        None => Purpose::SignIn,
    };
    let linked = state.store.identity(id, &asserted.subject).await?;
    let with_email = match (&purpose, &linked, &asserted.email) {
        (Purpose::SignIn, None, Some(email)) => state
            .store
            .users_by_email(email)
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect(),
        _ => Vec::new(),
    };
    let decision = rules::decide(
        &purpose,
        linked.as_ref().map(|l| l.user_id.as_str()),
        &asserted,
        provider.settings.policy,
        &with_email,
    );
    let sealed_refresh = match &finished.refresh_token {
        Some(t) => Some(
            state
                .sealer
                .seal(&format!("upstream refresh token|{id}"), t.as_bytes())?,
        ),
        None => None,
    };
    let record = |user_id: &str| IdentityRecord {
        upstream: id.to_owned(),
        subject: asserted.subject.clone(),
        user_id: user_id.to_owned(),
        email: asserted.email.clone(),
        refresh_token: sealed_refresh.clone(),
        created_at: now,
        last_used_at: now,
    };
    let name = provider.name().to_owned();
    if let Some(b) = linking {
        return match decision {
            Decision::LinkTo(user_id) => {
                if !state.store.link_identity(&record(&user_id)).await? {
                    return refuse_link(state, &b, &name, now).await;
                }
                tracing::info!(target: "valet::audit", sub = %b.user.id, upstream = %id, "upstream account linked");
                state.audit.event(
                    now,
                    "upstream.linked",
                    format!("user:{}", b.user.username),
                    Some(ip),
                    format!("user:{}", b.user.username),
                    serde_json::json!({ "upstream": id }),
                );
                // To the account page by its own address: a reload does not replay the
                // provider's answer.
                let mut r = StatusCode::SEE_OTHER.into_response();
                let to = HeaderValue::from_str(&format!("/account?linked={id}"))
                    .map_err(|_| ApiError::invariant("an upstream id"))?;
                r.headers_mut().insert(header::LOCATION, to);
                Ok(r)
            }
            Decision::AlreadyLinked => {
                crate::routes::account::page(
                    state,
                    &b,
                    Some(format!("That {name} account was already linked.")),
                    None,
                    now,
                )
                .await
            }
            _ => refuse_link(state, &b, &name, now).await,
        };
    }
    let user_id = match decision {
        Decision::SignInAs(user_id) => {
            state
                .store
                .identity_used(
                    id,
                    &asserted.subject,
                    asserted.email.as_deref(),
                    sealed_refresh.as_deref(),
                    now,
                )
                .await?;
            if user_id == rules::federated_sub(id, &asserted.subject) {
                refresh_claims(state, &user_id, &asserted, now).await?;
            }
            user_id
        }
        Decision::LinkTo(user_id) => {
            if !state.store.link_identity(&record(&user_id)).await? {
                return refused(
                    state,
                    headers,
                    &provider,
                    app,
                    step.then,
                    RefusedBy::Race,
                    now,
                )
                .await;
            }
            tracing::info!(target: "valet::audit", sub = %user_id, upstream = %id, "upstream account linked by its verified address");
            user_id
        }
        Decision::Create => match create(state, id, &asserted, record, now).await? {
            Some(user_id) => user_id,
            None => {
                return refused(
                    state,
                    headers,
                    &provider,
                    app,
                    step.then,
                    RefusedBy::Race,
                    now,
                )
                .await;
            }
        },
        Decision::AlreadyLinked => return Ok(form_spent(state)),
        Decision::Refuse(why) => {
            tracing::info!(target: "valet::audit", upstream = %id, reason = ?why, "an upstream sign-in was refused");
            return refused(
                state,
                headers,
                &provider,
                app,
                step.then,
                RefusedBy::Rule(why),
                now,
            )
            .await;
        }
    };
    let Some(user) = state.users.by_sub(&user_id).await? else {
        return refused(
            state,
            headers,
            &provider,
            app,
            step.then,
            RefusedBy::Disabled,
            now,
        )
        .await;
    };
    signed_in(state, headers, ip, &provider, user, app, step.then, now).await
}

/// A user created just in time, with their link, named `<id>:<name at the provider>`
/// (or `<id>:<subject>` when that name is taken); `None` when the link appeared meanwhile
/// and names nobody usable.
async fn create(
    state: &AppState,
    id: &str,
    asserted: &rules::Asserted,
    record: impl Fn(&str) -> IdentityRecord,
    now: UnixTime,
) -> Result<Option<String>, ApiError> {
    let user_id = rules::federated_sub(id, &asserted.subject);
    let mut user = UserRecord {
        id: user_id.clone(),
        username: rules::federated_username(id, asserted),
        claims: claims_of(asserted),
        password_hash: None,
        disabled: false,
        role: valet_protocol::user::Role::None,
        pending_until: None,
        created_at: now,
        updated_at: now,
    };
    for attempt in 0..2 {
        match state
            .store
            .create_user_with_identity(&user, &record(&user_id))
            .await
        {
            Ok(true) => {
                tracing::info!(target: "valet::audit", sub = %user_id, upstream = %id, "a user was created at their first upstream sign-in");
                state.audit.event(
                    now,
                    "user.created",
                    format!("upstream:{id}"),
                    None,
                    format!("user:{}", user.username),
                    serde_json::json!({ "upstream": id }),
                );
                return Ok(Some(user_id));
            }
            // A racer created them: sign in through its link.
            Ok(false) => {
                return Ok(state
                    .store
                    .identity(id, &asserted.subject)
                    .await?
                    .map(|l| l.user_id));
            }
            Err(StoreError::Conflict(_)) if attempt == 0 => user.username = user_id.clone(),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

fn claims_of(a: &rules::Asserted) -> valet_protocol::user::UserClaims {
    valet_protocol::user::UserClaims {
        name: a.name.clone(),
        given_name: a.given_name.clone(),
        family_name: a.family_name.clone(),
        email: a.email.clone(),
        email_verified: a.email_verified,
        ..Default::default()
    }
}

/// A user the provider created: their claims follow the provider's at each sign-in.
async fn refresh_claims(
    state: &AppState,
    user_id: &str,
    asserted: &rules::Asserted,
    now: UnixTime,
) -> Result<(), ApiError> {
    let Some(mut u) = state.store.user(user_id).await? else {
        return Ok(());
    };
    let claims = valet_protocol::user::UserClaims {
        phone_number: u.claims.phone_number.clone(),
        phone_number_verified: u.claims.phone_number_verified,
        locale: u.claims.locale.clone(),
        ..claims_of(asserted)
    };
    if claims != u.claims {
        u.claims = claims;
        u.updated_at = now;
        state.store.update_user(&u).await?;
    }
    Ok(())
}

/// The sign-in completes as after a password: a second factor when one is needed, else a
/// new session, audited, on to where it was going.
#[allow(clippy::too_many_arguments)]
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    ip: IpAddr,
    provider: &Provider,
    user: User,
    app: Option<valet_protocol::application::Application>,
    then: Then,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let interaction = then.clone().into_interaction();
    let demanded = second_factor::demanded(state, app.as_ref(), interaction.as_ref());
    let enrolled = state.settings.mfa != mfa::Policy::Off && mfa_enrolled(state, &user.id).await?;
    let next = mfa::after_password(state.settings.mfa, enrolled, demanded);
    if next != mfa::AfterPassword::SignIn {
        let enrol = next == mfa::AfterPassword::Enrol;
        return second_factor::start(state, headers, &user, now, then, enrol, now).await;
    }
    let method = format!("upstream:{}", provider.id());
    let (session, cookie) =
        session::sign_in_with(state, headers, ip, &user, now, vec![], now).await?;
    tracing::info!(target: "valet::audit", sub = %user.id, %ip, method = %method, "signed in");
    state.audit.event(
        now,
        "signin.succeeded",
        format!("user:{}", user.username),
        Some(ip),
        format!("user:{}", user.username),
        serde_json::json!({ "method": method }),
    );
    let browser = Browser { session, user };
    second_factor::continue_to(state, headers, app, then, browser, vec![cookie], now).await
}

enum RefusedBy {
    Rule(Refused),
    /// The user it names is disabled or gone.
    Disabled,
    /// A racing sign-in linked the subject elsewhere meanwhile.
    Race,
}

async fn refused(
    state: &AppState,
    headers: &HeaderMap,
    provider: &Provider,
    app: Option<valet_protocol::application::Application>,
    then: Then,
    why: RefusedBy,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let name = provider.name();
    let message = match why {
        RefusedBy::Rule(Refused::EmailTaken) => format!(
            "An account with this email address already exists. Sign in to it another way, \
             then link {name} from your account page."
        ),
        RefusedBy::Rule(Refused::NoAccount) => format!(
            "{name} signed you in, but there is no account here for you. \
             Ask your administrator to give you one."
        ),
        RefusedBy::Rule(Refused::LinkedElsewhere) | RefusedBy::Race => {
            format!("Signing in with {name} did not complete. Try again, or sign in another way.")
        }
        RefusedBy::Disabled => "This account cannot sign in.".to_owned(),
    };
    login_again(
        state,
        headers,
        app,
        then,
        &message,
        StatusCode::FORBIDDEN,
        None,
        now,
    )
    .await
}

/// A round trip that failed: the provider is down (503, `Retry-After`) or answered
/// something that signs nobody in (the reason is logged, not shown).
async fn failed(
    state: &AppState,
    headers: &HeaderMap,
    provider: &Provider,
    app: Option<valet_protocol::application::Application>,
    then: Then,
    e: UpstreamError,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let name = provider.name();
    let (status, retry, message) = match e {
        UpstreamError::Unavailable { retry_after, .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            Some(retry_after),
            format!(
                "{name} is not answering right now. Try again in a moment, or sign in another way."
            ),
        ),
        UpstreamError::Refused(_) => (
            StatusCode::BAD_REQUEST,
            None,
            format!("Signing in with {name} did not complete. Try again, or sign in another way."),
        ),
    };
    login_again(state, headers, app, then, &message, status, retry, now).await
}

/// The login page again for what the sign-in was for, freshly sealed, saying `message`.
#[allow(clippy::too_many_arguments)]
async fn login_again(
    state: &AppState,
    headers: &HeaderMap,
    app: Option<valet_protocol::application::Application>,
    then: Then,
    message: &str,
    status: StatusCode,
    retry_after: Option<u64>,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let to = if matches!(then, Then::Admin) {
        Destination::Admin
    } else {
        Destination::Account
    };
    let mut r = match (app, then.into_interaction()) {
        (Some(app), Some(i)) => {
            interaction::login_page(state, headers, &app, &i, Some(message), None, now).await?
        }
        _ => login::standalone(state, headers, Some(message), None, to, now)?,
    };
    *r.status_mut() = status;
    if let Some(secs) = retry_after {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    Ok(r)
}

async fn account_problem(
    state: &AppState,
    b: &Browser,
    provider: &Provider,
    e: &UpstreamError,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let name = provider.name();
    let (status, message) = match e {
        UpstreamError::Unavailable { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{name} is not answering right now. Try again in a moment."),
        ),
        UpstreamError::Refused(_) => (
            StatusCode::BAD_REQUEST,
            format!("Linking {name} did not complete. Try again."),
        ),
    };
    crate::routes::account::page(state, b, None, Some((status, message)), now).await
}

async fn refuse_link(
    state: &AppState,
    b: &Browser,
    name: &str,
    now: UnixTime,
) -> Result<Response, ApiError> {
    bad(
        state,
        b,
        format!("That {name} account is linked to another account here, so it cannot be linked to yours."),
        now,
    )
    .await
}

/// `/account?linked={id}` (where a link made on the account page lands): the notice,
/// when the signed-in user does have a link at that provider (otherwise none: the query
/// is only a pointer to what happened, not a claim that it did).
pub async fn linked_notice(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    now: UnixTime,
) -> Result<Option<String>, ApiError> {
    let Some(id) = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "linked")
        .map(|(_, v)| v.into_owned())
    else {
        return Ok(None);
    };
    let Some(provider) = state.upstreams.get(&id) else {
        return Ok(None);
    };
    let Some(b) = Browser::from_headers(state, headers, now).await? else {
        return Ok(None);
    };
    let links = state.store.identities_of_user(&b.user.id).await?;
    Ok(links
        .iter()
        .any(|l| l.upstream == id)
        .then(|| format!("{} is linked: you can sign in with it.", provider.name())))
}

/// The account page's section: each provider, linked (with the address it asserted) or
/// not.
#[derive(Serialize)]
pub struct LinkView {
    id: String,
    name: String,
    linked: Vec<LinkedView>,
}

#[derive(Serialize)]
struct LinkedView {
    subject: String,
    email: Option<String>,
    /// Whether another way to sign in remains without it.
    can_unlink: bool,
}

pub async fn section(state: &AppState, user_id: &str) -> Result<Vec<LinkView>, ApiError> {
    if state.upstreams.all().is_empty() {
        return Ok(Vec::new());
    }
    let links = state.store.identities_of_user(user_id).await?;
    let can_unlink = other_way_in(state, user_id, links.len()).await?;
    Ok(state
        .upstreams
        .all()
        .iter()
        .map(|p| LinkView {
            id: p.id().to_owned(),
            name: p.name().to_owned(),
            linked: links
                .iter()
                .filter(|l| l.upstream == p.id())
                .map(|l| LinkedView {
                    subject: l.subject.clone(),
                    email: l.email.clone(),
                    can_unlink,
                })
                .collect(),
        })
        .collect())
}
