//! The authorization endpoint (RFC 6749 §3.1, §4.1.1, §4.2.1; OIDC Core §3.1.2), as an
//! ordered list of small checks. The order is the security property (checklist A6):
//!
//! 1. `client_id` — unknown, missing or repeated: an error *page* (RFC 6749 §4.1.2.1);
//! 2. `redirect_uri` — unregistered, missing where required, or repeated: an error page;
//! 3. everything else — an error *redirected* to the now-verified redirect URI, with
//!    `state` and `iss` (RFC 9207).
//!
//! Then `decide` says what the browser needs next (sign in, consent, or the response).

use serde::{Deserialize, Serialize};

use crate::application::{Application, GrantType};
use crate::audience::{self, Api};
use crate::error::ErrorCode;
use crate::params::Params;
use crate::pkce::{self, Challenge};
use crate::scope::Scope;
use crate::{OAuthError, UnixTime};

/// An error shown to the user as a page, never redirected: the client or its redirect
/// URI could not be verified, so there is nowhere safe to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPage(pub String);

/// Steps 1 and 2 may end on an error page; step 3 on a redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirected {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub state: Option<String>,
    pub error: OAuthError,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseType {
    /// `code` (RFC 6749 §4.1).
    Code,
    /// `token` (RFC 6749 §4.2), legacy, opt-in per application.
    Token,
    /// `id_token token` (OIDC Core §3.2), legacy, opt-in per application.
    IdTokenToken,
    /// `id_token` (OIDC Core §3.2), legacy, opt-in per application.
    IdToken,
}

impl ResponseType {
    /// Response types are space-separated sets: order does not matter
    /// (OAuth 2.0 Multiple Response Type Encoding Practices §5).
    fn parse(raw: &str) -> Option<Self> {
        let mut parts: Vec<&str> = raw.split(' ').filter(|p| !p.is_empty()).collect();
        parts.sort_unstable();
        match parts.as_slice() {
            ["code"] => Some(Self::Code),
            ["token"] => Some(Self::Token),
            ["id_token", "token"] => Some(Self::IdTokenToken),
            ["id_token"] => Some(Self::IdToken),
            _ => None,
        }
    }

    /// Whether tokens travel in the front channel (never in a query string).
    pub fn is_implicit(self) -> bool {
        self != Self::Code
    }

    pub fn has_id_token(self) -> bool {
        matches!(self, Self::IdToken | Self::IdTokenToken)
    }

    pub fn has_access_token(self) -> bool {
        matches!(self, Self::Token | Self::IdTokenToken)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

/// `prompt` (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A validated authorization request: everything later steps need, nothing unchecked.
/// It travels sealed in the login and consent forms, bound to the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// Whether the request named `redirect_uri` (then the token request must repeat it,
    /// RFC 6749 §4.1.3).
    pub redirect_uri_sent: bool,
    pub response_type: ResponseType,
    pub response_mode: ResponseMode,
    pub scope: Scope,
    pub audience: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub pkce: Option<Challenge>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub id_token_hint: Option<String>,
    /// OIDC Core §3.1.2.1 `acr_values`, in order of preference. The MFA value
    /// (`id_token::ACR_MFA`) makes a second factor required (`mfa::demanded`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acr_values: Vec<String>,
    /// RFC 9449 §10 `dpop_jkt`: the DPoP key the code is bound to (from the parameter,
    /// or from the DPoP proof of the pushed request that carried it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

impl AuthorizationRequest {
    pub fn is_openid(&self) -> bool {
        self.scope.contains("openid")
    }

    /// An error to send back to the application for this request.
    pub fn error(&self, error: OAuthError) -> Redirected {
        Redirected {
            redirect_uri: self.redirect_uri.clone(),
            mode: self.response_mode,
            state: self.state.clone(),
            error,
        }
    }
}

/// Step 1: the `client_id`, before anything else is read.
pub fn client_id(params: &Params) -> Result<&str, ErrorPage> {
    if params.repeated("client_id") {
        return Err(ErrorPage(
            "The request names more than one application (client_id).".into(),
        ));
    }
    params.get("client_id").ok_or_else(|| {
        ErrorPage("The request does not say which application is asking (client_id).".into())
    })
}

/// Step 2: the redirect URI, once the application is known.
pub fn redirect_uri(app: &Application, params: &Params) -> Result<(String, bool), ErrorPage> {
    if params.repeated("redirect_uri") {
        return Err(ErrorPage(
            "The request names more than one redirect_uri.".into(),
        ));
    }
    if let Some(uri) = params.get("redirect_uri") {
        if app.redirect_uri_matches(uri) {
            return Ok((uri.to_owned(), true));
        }
        return Err(ErrorPage(
            "The redirect_uri is not registered for this application. It must match a \
             registered redirect URI exactly, character for character."
                .into(),
        ));
    }
    // OIDC Core §3.1.2.1 makes redirect_uri REQUIRED; plain OAuth may omit it when exactly
    // one is registered (RFC 6749 §3.1.2.3; checklist A7).
    let openid = params
        .get("scope")
        .is_some_and(|s| s.split(' ').any(|t| t == "openid"));
    match app.redirect_uris.as_slice() {
        [only] if !openid => Ok((only.clone(), false)),
        _ => Err(ErrorPage(
            "The request has no redirect_uri. Send the redirect URI registered for this \
             application."
                .into(),
        )),
    }
}

/// Server-wide inputs of step 3.
pub struct Context<'a> {
    pub apis: &'a [Api],
    /// The parameters came from a pushed request (RFC 9126), not the browser's URL.
    pub pushed: bool,
    /// Server-wide `require_pushed_authorization_requests` (RFC 9126 §5).
    pub require_par: bool,
    /// Server-wide FAPI 2.0 mode: every application follows the profile's request rules.
    pub fapi2: bool,
    /// `aud` of a token that selects no API (RFC 9068 §3).
    pub default_audience: &'a str,
}

/// Step 3: every other parameter, with errors redirected (checklist A9, B, E, I).
pub fn validate(
    app: &Application,
    params: &Params,
    redirect_uri: String,
    redirect_uri_sent: bool,
    ctx: &Context<'_>,
) -> Result<AuthorizationRequest, Redirected> {
    let state = params.get("state").map(str::to_owned);
    // Until response_type and response_mode are known, errors go back in the query.
    let mut mode = ResponseMode::Query;
    let fail = |mode: ResponseMode, error: OAuthError| Redirected {
        redirect_uri: redirect_uri.clone(),
        mode,
        state: state.clone(),
        error,
    };

    // RFC 6749 §3.1: no parameter more than once (checklist B2). `resource` may repeat
    // (RFC 8707 §2).
    if let Some(name) = params.first_repeated(&["resource"]) {
        return Err(fail(
            mode,
            OAuthError::invalid_request(format!(
                "the {name} parameter must not be provided more than once"
            )),
        ));
    }

    let Some(raw_type) = params.get("response_type") else {
        return Err(fail(
            mode,
            OAuthError::invalid_request("response_type is required; send response_type=code"),
        ));
    };
    let Some(response_type) = ResponseType::parse(raw_type) else {
        return Err(fail(
            mode,
            OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "response_type must be code (or, where enabled, token, id_token token or id_token)",
            ),
        ));
    };
    if response_type.is_implicit() {
        mode = ResponseMode::Fragment;
    }
    mode = match params.get("response_mode") {
        None => mode,
        Some("query") if response_type.is_implicit() => {
            // Multiple Response Type Encoding Practices §5 (checklist I2).
            return Err(fail(
                mode,
                OAuthError::invalid_request(
                    "response_mode=query cannot carry tokens; use fragment or form_post",
                ),
            ));
        }
        Some("query") => ResponseMode::Query,
        Some("fragment") => ResponseMode::Fragment,
        Some("form_post") => ResponseMode::FormPost,
        Some(_) => {
            return Err(fail(
                mode,
                OAuthError::invalid_request("response_mode must be query, fragment or form_post"),
            ));
        }
    };

    let grant = if response_type.is_implicit() {
        GrantType::Implicit
    } else {
        GrantType::AuthorizationCode
    };
    if !app.allows_grant(grant) {
        return Err(fail(
            mode,
            OAuthError::unauthorized_client(format!(
                "this application may not use response_type={raw_type}"
            )),
        ));
    }

    // OIDC Core §6: request objects are not supported; never fetch a request_uri
    // (checklist B8). An empty one is no parameter at all (RFC 6749 §3.1, checklist B4).
    if params.get("request").is_some() {
        return Err(fail(
            mode,
            OAuthError::new(
                ErrorCode::RequestNotSupported,
                "request objects are not supported; send the authorization parameters themselves \
                 in the query string or a form POST",
            ),
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(fail(
            mode,
            OAuthError::new(
                ErrorCode::RequestUriNotSupported,
                "request_uri is not supported and is never fetched; send the authorization \
                 parameters themselves in the query string or a form POST",
            ),
        ));
    }

    // RFC 9126 §5, §6; FAPI 2.0 §5.3.1.2 item 1: only what was pushed.
    if !ctx.pushed && (ctx.require_par || app.requires_par()) {
        return Err(fail(
            mode,
            OAuthError::invalid_request(
                "this authorization request must be pushed first: POST it to the \
                 pushed_authorization_request_endpoint and send only client_id and the \
                 request_uri it returns (RFC 9126)",
            ),
        ));
    }
    // FAPI 2.0 §5.3.1.2 item 2: the code flow only.
    let fapi2 = ctx.fapi2 || app.is_fapi2();
    if fapi2 && response_type != ResponseType::Code {
        return Err(fail(
            mode,
            OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "under the FAPI 2.0 profile the only response_type is code",
            ),
        ));
    }
    // RFC 9449 §10: a thumbprint is a base64url SHA-256, 43 characters.
    let dpop_jkt = params.get("dpop_jkt").map(str::to_owned);
    if dpop_jkt.as_deref().is_some_and(|j| {
        j.len() != 43
            || !j
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) {
        return Err(fail(
            mode,
            OAuthError::invalid_request(
                "dpop_jkt must be the base64url SHA-256 thumbprint of a JWK (RFC 9449 §10)",
            ),
        ));
    }

    let requested = match params.get("scope").map(Scope::parse).transpose() {
        Ok(s) => s,
        Err(e) => return Err(fail(mode, e)),
    };
    let resources: Vec<&str> = params.all("resource").collect();
    let allowed = app.allowed_scopes();
    let selection = audience::select(
        requested.as_ref(),
        &resources,
        &allowed,
        ctx.apis,
        ctx.default_audience,
    )
    .map_err(|e| fail(mode, e))?;

    let nonce = params.get("nonce").map(str::to_owned);
    // OIDC Core §3.2.2.1: nonce is REQUIRED when an ID token comes from this endpoint
    // (checklist I3).
    if response_type.has_id_token() && nonce.is_none() {
        return Err(fail(
            mode,
            OAuthError::invalid_request("nonce is required when an id_token is requested"),
        ));
    }
    if response_type.has_id_token() && !selection.scope.contains("openid") {
        return Err(fail(
            mode,
            OAuthError::invalid_request("an id_token needs the openid scope"),
        ));
    }

    let pkce = pkce::challenge(
        params.get("code_challenge"),
        params.get("code_challenge_method"),
        // FAPI 2.0 §5.3.1.2 item 5: S256 only.
        app.allow_plain_pkce && !fapi2,
    )
    .map_err(|e| fail(mode, e))?;
    // RFC 9700 §2.1.1 (checklist E6).
    if response_type == ResponseType::Code && pkce.is_none() && (app.requires_pkce() || fapi2) {
        return Err(fail(
            mode,
            OAuthError::invalid_request(
                "code challenge required: this application must use PKCE (code_challenge with S256)",
            ),
        ));
    }

    let prompt = parse_prompt(params.get("prompt")).map_err(|e| fail(mode, e))?;
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(fail(
                    mode,
                    OAuthError::invalid_request("max_age must be a number of seconds"),
                ));
            }
        },
    };

    Ok(AuthorizationRequest {
        client_id: app.client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        redirect_uri_sent,
        response_type,
        response_mode: mode,
        scope: selection.scope,
        audience: selection.audience,
        state: state.clone(),
        nonce,
        pkce,
        prompt,
        max_age,
        login_hint: params.get("login_hint").map(str::to_owned),
        id_token_hint: params.get("id_token_hint").map(str::to_owned),
        acr_values: params
            .get("acr_values")
            .map(|v| {
                v.split(' ')
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        dpop_jkt,
    })
}

/// Why a request validated earlier no longer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    /// The client or its redirect URI no longer verifies: a page, never a redirect.
    Page(ErrorPage),
    /// Anything else: redirected to the (still registered) redirect URI.
    Redirect(Redirected),
}

/// Checks a request that `validate` passed earlier — sealed into a login or consent form,
/// perhaps left open for minutes — against the application's registration as it is now,
/// before anything is issued (issue 12 item 10), in `validate`'s order: the redirect URI
/// must still be registered (else a page: there is nowhere safe to send an error), then
/// the grant must still be allowed, every scope still allowed, and PKCE still satisfy
/// the application's rules (else the error goes back to the redirect URI).
pub fn recheck(app: &Application, req: &AuthorizationRequest) -> Result<(), Stale> {
    if app.client_id != req.client_id || !app.redirect_uri_matches(&req.redirect_uri) {
        return Err(Stale::Page(ErrorPage(
            "The application no longer accepts this redirect_uri: its registration changed \
             after the request was made."
                .into(),
        )));
    }
    let fail = |e: OAuthError| Err(Stale::Redirect(req.error(e)));
    let grant = if req.response_type.is_implicit() {
        GrantType::Implicit
    } else {
        GrantType::AuthorizationCode
    };
    if !app.allows_grant(grant) {
        return fail(OAuthError::unauthorized_client(
            "this application may no longer use this response_type",
        ));
    }
    if let Some(t) = req.scope.first_outside(&app.allowed_scopes()) {
        return fail(OAuthError::invalid_scope(format!(
            "this application may no longer request the scope {t}"
        )));
    }
    let plain = req
        .pkce
        .as_ref()
        .is_some_and(|c| c.method == pkce::Method::Plain);
    let missing = req.response_type == ResponseType::Code && req.pkce.is_none();
    if (plain && !app.allow_plain_pkce) || (missing && app.requires_pkce()) {
        return fail(OAuthError::invalid_request(
            "this application now requires PKCE with S256; start a new authorization request",
        ));
    }
    Ok(())
}

/// OIDC Core §3.1.2.1: `none` stands alone; `select_account` is treated as `login`.
fn parse_prompt(raw: Option<&str>) -> Result<Prompt, OAuthError> {
    let mut p = Prompt::default();
    let Some(raw) = raw else {
        return Ok(p);
    };
    let mut count = 0;
    for v in raw.split(' ').filter(|v| !v.is_empty()) {
        count += 1;
        match v {
            "none" => p.none = true,
            "login" | "select_account" => p.login = true,
            "consent" => p.consent = true,
            other => {
                return Err(OAuthError::invalid_request(format!(
                    "prompt value {other} is not supported"
                )));
            }
        }
    }
    if p.none && count > 1 {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok(p)
}

/// The browser's signed-in user, as far as this request is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn<'a> {
    pub user_id: &'a str,
    pub auth_time: UnixTime,
    /// The user signed in during this very request (the login form was just posted), so
    /// `prompt=login` and `max_age` are satisfied.
    pub just_now: bool,
    /// The session was made with a second factor (`mfa::has_two_factors`).
    pub two_factors: bool,
}

/// What the browser needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Show the login page.
    Login,
    /// The user is signed in with a password alone and the request needs a second
    /// factor: ask for it (step-up), then go on.
    SecondFactor,
    /// Show the consent page for these scopes.
    Consent,
    /// Issue the response.
    Issue,
    /// Send this error back to the application (`prompt=none` could not be honoured).
    Error(OAuthError),
}

/// Decides the next step (OIDC Core §3.1.2.3–§3.1.2.6).
///
/// - `hint_subject`: the `sub` of a verified `id_token_hint`, if the request had one;
/// - `consented`: the scopes this user already allowed this application;
/// - `trusted`: first-party applications skip consent;
/// - `two_factors`: the request needs a session with a second factor (`mfa::demanded`).
///
/// A step-up comes after `prompt=login`, `max_age` and the hint: a session too old for
/// `max_age` signs in again with the password first, then the second factor.
pub fn decide(
    req: &AuthorizationRequest,
    user: Option<&SignedIn<'_>>,
    hint_subject: Option<&str>,
    consented: Option<&Scope>,
    trusted: bool,
    two_factors: bool,
    now: UnixTime,
) -> Decision {
    let interaction = |code: ErrorCode, why: &'static str| {
        if req.prompt.none {
            Decision::Error(OAuthError::new(
                code,
                format!(
                    "{why}, and prompt=none forbids showing the sign-in page; repeat the \
                     request without prompt=none to let the user sign in"
                ),
            ))
        } else {
            Decision::Login
        }
    };
    let Some(user) = user else {
        return interaction(ErrorCode::LoginRequired, "the user is not signed in");
    };
    if !user.just_now {
        if req.prompt.login {
            return Decision::Login;
        }
        // OIDC Core §3.1.2.1: an elapsed time greater than max_age MUST re-authenticate.
        // Both times are whole seconds, so a difference equal to max_age may hide up to a
        // second more: only `>=` keeps the MUST (and makes max_age=0 act as prompt=login).
        if req.max_age.is_some_and(|max| now - user.auth_time >= max) {
            return interaction(
                ErrorCode::LoginRequired,
                "the user signed in longer ago than max_age allows",
            );
        }
        if hint_subject.is_some_and(|s| s != user.user_id) {
            return interaction(
                ErrorCode::LoginRequired,
                "the signed-in user is not the one id_token_hint names",
            );
        }
    }
    if two_factors && !user.two_factors {
        if req.prompt.none {
            return Decision::Error(OAuthError::new(
                ErrorCode::InteractionRequired,
                "the request needs a second factor the session has not had, and prompt=none \
                 forbids asking for it",
            ));
        }
        return Decision::SecondFactor;
    }
    if trusted && !req.prompt.consent {
        return Decision::Issue;
    }
    let covered = consented.is_some_and(|c| req.scope.is_subset_of(c));
    if covered && !req.prompt.consent {
        return Decision::Issue;
    }
    // RFC 6819 §5.2.4.1: never auto-approve scopes the user has not seen (checklist C9).
    if req.prompt.none {
        return Decision::Error(OAuthError::new(
            ErrorCode::ConsentRequired,
            "the user has not allowed this application these scopes, and prompt=none forbids \
             asking; repeat the request without prompt=none to show the consent page",
        ));
    }
    Decision::Consent
}

#[cfg(test)]
#[path = "authorize_tests.rs"]
mod tests;
