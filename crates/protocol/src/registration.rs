//! Dynamic client registration (RFC 7591, RFC 7592; OpenID Connect Dynamic Client
//! Registration 1.0): a metadata document in, an `Application` out, and the response that
//! echoes it. Self-registered applications are never `trusted` (the consent page always
//! shows), their origin is `Dynamic`, and what they may ask for is bounded by the
//! operator's `Policy`. No I/O: the client_id, secrets and `now` come from the caller.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::OAuthError;
use crate::application::{
    Application, Assurance, AuthMethod, GrantType, Origin, Profile, Registration, SigningAlg,
    SubjectType, is_loopback_host, validate_redirect_uri,
};
use crate::scope::{ADMIN_SCOPE, OIDC_SCOPES, Scope};
use crate::text::{check_printable, check_uri_chars};

/// Redirect URIs (and post-logout redirect URIs) one registration may list.
pub const MAX_REDIRECT_URIS: usize = 20;
/// Contacts one registration may list, and the length of any one free-text value.
pub const MAX_CONTACTS: usize = 10;
const MAX_TEXT: usize = 200;
/// The name of an application that sent no `client_name`.
pub const UNNAMED: &str = "Unnamed application";

/// What the operator allows self-registered applications (issue 14's firewall policy).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Hosts an `http(s)` redirect URI may name; empty: any (loopback hosts included).
    pub redirect_hosts: Vec<String>,
    /// Schemes a redirect URI may use; empty: any the rules below allow.
    pub redirect_schemes: Vec<String>,
    /// Scopes beyond the OpenID Connect ones the application may register (the server
    /// passes the scopes of the registered APIs, filtered by configuration);
    /// `valet:admin` is refused whatever this holds.
    pub scopes: Vec<String>,
    /// Register quarantined: unusable until an admin approves.
    pub quarantine: bool,
}

/// RFC 7591 §2 client metadata as sent. Members Valet does not know are ignored
/// (RFC 7591 §2: "MUST ignore any client metadata … that it does not understand").
#[derive(Debug, Default, Deserialize)]
pub struct Metadata {
    pub redirect_uris: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub application_type: Option<String>,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    pub scope: Option<String>,
    pub contacts: Option<Vec<String>>,
    pub software_id: Option<String>,
    pub software_version: Option<String>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// OIDC Back-Channel Logout 1.0 §2.2.
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: Option<bool>,
    /// OIDC Registration §2: RS256 (the default), PS256, ES256 or EdDSA.
    pub id_token_signed_response_alg: Option<String>,
    /// OIDC Registration §2, OIDC Core §8: `public` or `pairwise`.
    pub subject_type: Option<String>,
    /// RFC 7591 §2: the application's public keys, by value or by reference.
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    /// RFC 9449 §5.2.
    pub dpop_bound_access_tokens: Option<bool>,
    /// RFC 9126 §6.
    pub require_pushed_authorization_requests: Option<bool>,
    pub userinfo_signed_response_alg: Option<String>,
    pub id_token_encrypted_response_alg: Option<String>,
    pub userinfo_encrypted_response_alg: Option<String>,
    pub request_object_signing_alg: Option<String>,
    /// OIDC Registration §2, §5: only meaningful for pairwise subjects, which Valet does
    /// not issue; refused rather than left unchecked (checklist M5).
    pub sector_identifier_uri: Option<String>,
    /// OIDC Registration §2: request objects by reference are not supported
    /// (`request_uri_parameter_supported: false`).
    pub request_uris: Option<Vec<String>>,
}

/// Parses a registration body (a JSON object). A wrong type of a known member is
/// `invalid_client_metadata` (RFC 7591 §3.2.2); a body that is no JSON object is too.
pub fn parse(body: &[u8]) -> Result<Metadata, OAuthError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        OAuthError::invalid_client_metadata("the body must be a JSON object (RFC 7591 §3.1)")
    })?;
    if !value.is_object() {
        return Err(OAuthError::invalid_client_metadata(
            "the body must be a JSON object (RFC 7591 §3.1)",
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        OAuthError::invalid_client_metadata(format!("a metadata value has the wrong type: {e}"))
    })
}

fn bad(d: impl Into<String>) -> OAuthError {
    OAuthError::invalid_client_metadata(d.into())
}

/// The application a registration describes, or the RFC 7591 §3.2.2 error. `client_id`
/// is the caller's fresh one (or the existing one at an RFC 7592 update).
pub fn application(
    meta: &Metadata,
    client_id: String,
    policy: &Policy,
) -> Result<Application, OAuthError> {
    check_oidc_choices(meta)?;
    // RFC 7591 §2: `client_secret_basic` when omitted.
    let method = match meta.token_endpoint_auth_method.as_deref() {
        None => AuthMethod::ClientSecretBasic,
        Some(m) => m
            .parse::<AuthMethod>()
            .map_err(|_| bad(format!("token_endpoint_auth_method `{m}` is not supported")))?,
    };
    let grant_types = grant_types(meta)?;
    let redirect_uris = meta.redirect_uris.clone().unwrap_or_default();
    let post_logout = meta.post_logout_redirect_uris.clone().unwrap_or_default();
    if redirect_uris.is_empty() {
        return Err(OAuthError::invalid_redirect_uri(
            "redirect_uris must list at least one URI (RFC 7591 §2)",
        ));
    }
    if redirect_uris.len() > MAX_REDIRECT_URIS || post_logout.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::invalid_redirect_uri(format!(
            "at most {MAX_REDIRECT_URIS} redirect URIs"
        )));
    }
    let native = match meta.application_type.as_deref() {
        Some("native") => true,
        Some("web") => false,
        // OIDC Registration §2 makes `web` the default. A public client that omits it and
        // lists only loopback or private-use redirect URIs is a native app by every other
        // sign (several MCP clients send no application_type), so it is read as one.
        None => method == AuthMethod::None && redirect_uris.iter().all(|u| looks_native(u)),
        Some(other) => {
            return Err(bad(format!(
                "application_type `{other}` is neither `web` nor `native`"
            )));
        }
    };
    let profile = match (native, method) {
        (true, AuthMethod::None) => Profile::Native,
        (false, AuthMethod::None) => Profile::Spa,
        (false, _) => Profile::Web,
        (true, _) => {
            return Err(bad(
                "a native application cannot keep a secret (RFC 8252 §8.4): register it with \
                 token_endpoint_auth_method `none`",
            ));
        }
    };
    for uri in &redirect_uris {
        check_redirect_uri(uri, native, policy).map_err(OAuthError::invalid_redirect_uri)?;
    }
    for uri in &post_logout {
        check_redirect_uri(uri, native, policy)
            .map_err(|e| bad(e.replace("redirect URI", "post-logout redirect URI")))?;
    }
    let scopes = scopes(meta, policy)?;
    let name = match meta.client_name.as_deref().map(str::trim) {
        None | Some("") => UNNAMED.to_owned(),
        Some(n) => n.to_owned(),
    };
    let contacts = meta.contacts.clone().unwrap_or_default();
    if contacts.len() > MAX_CONTACTS {
        return Err(bad(format!("at most {MAX_CONTACTS} contacts")));
    }
    for (field, v) in contacts.iter().map(|c| ("contacts", Some(c))).chain([
        ("software_id", meta.software_id.as_ref()),
        ("software_version", meta.software_version.as_ref()),
    ]) {
        let Some(v) = v else { continue };
        if v.chars().count() > MAX_TEXT {
            return Err(bad(format!("{field} is longer than {MAX_TEXT} characters")));
        }
        check_printable(field, v).map_err(bad)?;
    }
    if let Some(tos) = &meta.tos_uri {
        check_uri_chars("tos_uri", tos).map_err(bad)?;
        if !tos.starts_with("https://") {
            return Err(bad(format!("the tos_uri `{tos}` must be an https URL")));
        }
    }
    let app = Application {
        client_id,
        name,
        description: None,
        website: meta.client_uri.clone(),
        logo_uri: meta.logo_uri.clone(),
        policy_uri: meta.policy_uri.clone(),
        profile,
        redirect_uris,
        grant_types,
        scopes,
        token_endpoint_auth_method: method,
        token_endpoint_auth_method_chosen: meta.token_endpoint_auth_method.is_some(),
        // Never trusted: a self-registered application always meets the consent page.
        trusted: false,
        service_subject: None,
        post_logout_redirect_uris: post_logout,
        allow_plain_pkce: false,
        require_pkce: false,
        require_mfa: false,
        id_token_on_refresh: true,
        cors_origins: vec![],
        access_token_format: Default::default(),
        access_token_ttl: None,
        refresh_token_ttl: None,
        backchannel_logout_uri: meta.backchannel_logout_uri.clone(),
        assurance: Assurance {
            jwks: meta.jwks.clone(),
            jwks_uri: meta.jwks_uri.clone(),
            require_par: meta.require_pushed_authorization_requests.unwrap_or(false),
            require_dpop: meta.dpop_bound_access_tokens.unwrap_or(false),
            id_token_alg: match meta.id_token_signed_response_alg.as_deref() {
                Some(a) => a.parse().map_err(bad)?,
                None => SigningAlg::RS256,
            },
            subject_type: match meta.subject_type.as_deref() {
                Some(t) => t.parse().map_err(bad)?,
                None => SubjectType::Public,
            },
        },
        backchannel_logout_session_required: meta
            .backchannel_logout_session_required
            .unwrap_or(false),
        registration: Registration {
            origin: Origin::Dynamic,
            verified: false,
            quarantined: policy.quarantine,
            software_id: meta.software_id.clone(),
            software_version: meta.software_version.clone(),
            tos_uri: meta.tos_uri.clone(),
            contacts,
        },
    };
    // The rules an admin's registration passes hold here too (name, URIs, scopes).
    app.validate().map_err(|e| {
        bad(e
            .replace("--redirect-uri", "redirect_uris")
            .replace("website", "client_uri"))
    })?;
    Ok(app)
}

/// OIDC Registration §2 choices Valet cannot honour are refused, not silently ignored: a
/// client that asked for encrypted ID tokens must not receive plain ones.
fn check_oidc_choices(meta: &Metadata) -> Result<(), OAuthError> {
    for (field, v) in [
        (
            "userinfo_signed_response_alg",
            &meta.userinfo_signed_response_alg,
        ),
        (
            "id_token_encrypted_response_alg",
            &meta.id_token_encrypted_response_alg,
        ),
        (
            "userinfo_encrypted_response_alg",
            &meta.userinfo_encrypted_response_alg,
        ),
        (
            "request_object_signing_alg",
            &meta.request_object_signing_alg,
        ),
        ("sector_identifier_uri", &meta.sector_identifier_uri),
    ] {
        if v.is_some() {
            return Err(bad(format!("{field} is not supported by this server")));
        }
    }
    if meta.request_uris.as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(bad(
            "request_uris is not supported by this server (no request_uri parameter)",
        ));
    }
    Ok(())
}

/// RFC 7591 §2.1: `grant_types` and `response_types` must agree (`code` ↔
/// `authorization_code`). Self-registered applications get the authorization code grant
/// and refresh tokens; defaults are `["authorization_code"]` and `["code"]` (RFC 7591 §2).
fn grant_types(meta: &Metadata) -> Result<Vec<GrantType>, OAuthError> {
    let mut grants = Vec::new();
    for g in meta
        .grant_types
        .as_deref()
        .unwrap_or(&["authorization_code".to_owned()])
    {
        let grant = match g.as_str() {
            "authorization_code" => GrantType::AuthorizationCode,
            "refresh_token" => GrantType::RefreshToken,
            other => {
                return Err(bad(format!(
                    "grant type `{other}` is not offered to self-registered applications \
                     (authorization_code and refresh_token are)"
                )));
            }
        };
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    let responses = meta
        .response_types
        .clone()
        .unwrap_or_else(|| vec!["code".to_owned()]);
    if let Some(r) = responses.iter().find(|r| r.as_str() != "code") {
        return Err(bad(format!(
            "response type `{r}` is not offered to self-registered applications (code is)"
        )));
    }
    let code = grants.contains(&GrantType::AuthorizationCode);
    if code != responses.iter().any(|r| r == "code") {
        return Err(bad(
            "grant_types and response_types disagree: the authorization_code grant goes with \
             the response type code (RFC 7591 §2.1)",
        ));
    }
    Ok(grants)
}

/// The scopes a registration asks for: each an OpenID Connect scope or one the policy
/// allows; never `valet:admin`. None asked: the OpenID Connect scopes.
fn scopes(meta: &Metadata, policy: &Policy) -> Result<Vec<String>, OAuthError> {
    let Some(raw) = meta.scope.as_deref() else {
        return Ok(OIDC_SCOPES.iter().map(|s| (*s).to_owned()).collect());
    };
    let scope = Scope::parse(raw).map_err(|e| bad(e.description().to_owned()))?;
    let mut out = Vec::new();
    for s in scope.iter() {
        if s == ADMIN_SCOPE || !(OIDC_SCOPES.contains(&s) || policy.scopes.iter().any(|p| p == s)) {
            return Err(bad(format!(
                "the scope `{s}` is not offered to self-registered applications"
            )));
        }
        out.push(s.to_owned());
    }
    Ok(out)
}

/// An http loopback URI or a private-use scheme: what only a native app registers.
fn looks_native(uri: &str) -> bool {
    match uri.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => is_loopback_host(host(rest)),
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => false,
        _ => uri.split_once(':').is_some_and(|(s, _)| s.contains('.')),
    }
}

fn host(after_scheme: &str) -> &str {
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// OIDC Registration §2 (`application_type`): a web application's redirect URIs are
/// https and not on `localhost`; a native one's are private-use schemes, http loopback
/// URLs (RFC 8252 §7.1, §7.3) or claimed https URLs (§7.2). On top of the rules every
/// registration passes (`validate_redirect_uri`: absolute, no fragment, no userinfo, no
/// wildcard) and of the operator's allowed hosts and schemes.
fn check_redirect_uri(uri: &str, native: bool, policy: &Policy) -> Result<(), String> {
    let profile = if native {
        Profile::Native
    } else {
        Profile::Web
    };
    validate_redirect_uri(uri, profile)?;
    let (scheme, rest) = uri.split_once(':').unwrap_or((uri, ""));
    let scheme = scheme.to_ascii_lowercase();
    let web_like = scheme == "http" || scheme == "https";
    let host = if web_like {
        host(rest.trim_start_matches('/'))
    } else {
        ""
    };
    if !native && (scheme != "https" || is_loopback_host(host)) {
        return Err(format!(
            "redirect URI `{uri}` of a web application must be https and not on a loopback \
             host (OIDC Registration §2); a native app registers with application_type native"
        ));
    }
    if !policy.redirect_schemes.is_empty() && !policy.redirect_schemes.contains(&scheme) {
        return Err(format!(
            "redirect URI `{uri}` uses a scheme this server does not allow for \
             self-registered applications"
        ));
    }
    if web_like
        && !policy.redirect_hosts.is_empty()
        && !policy
            .redirect_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host))
    {
        return Err(format!(
            "redirect URI `{uri}` names a host this server does not allow for \
             self-registered applications"
        ));
    }
    Ok(())
}

/// What makes two registrations identical for deduplication: the application as it would
/// be stored, without its client_id (its normalized metadata; a JSON text, stable across
/// runs because serde writes fields in declaration order).
pub fn fingerprint(app: &Application) -> String {
    let mut a = app.clone();
    a.client_id.clear();
    serde_json::to_string(&a).unwrap_or_default()
}

/// Secrets of a registration response, shown once.
pub struct Issued<'a> {
    pub client_id_issued_at: i64,
    pub client_secret: Option<&'a str>,
    pub registration_access_token: &'a str,
    pub registration_client_uri: &'a str,
}

/// The client information response (RFC 7591 §3.2.1, RFC 7592 §3): every registered
/// metadata value, the client_id, and the RFC 7592 token and URI. A client secret never
/// expires (`client_secret_expires_at: 0`).
pub fn response(app: &Application, issued: &Issued<'_>) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    put("client_id", json!(app.client_id));
    put("client_id_issued_at", json!(issued.client_id_issued_at));
    if let Some(secret) = issued.client_secret {
        put("client_secret", json!(secret));
        put("client_secret_expires_at", json!(0));
    }
    put(
        "registration_access_token",
        json!(issued.registration_access_token),
    );
    put(
        "registration_client_uri",
        json!(issued.registration_client_uri),
    );
    put("redirect_uris", json!(app.redirect_uris));
    put(
        "token_endpoint_auth_method",
        json!(app.token_endpoint_auth_method.as_str()),
    );
    let grants: Vec<&str> = app.grant_types.iter().map(|g| g.as_str()).collect();
    put("grant_types", json!(grants));
    let code = app.allows_grant(GrantType::AuthorizationCode);
    put(
        "response_types",
        json!(if code { vec!["code"] } else { vec![] }),
    );
    put(
        "application_type",
        json!(if app.profile == Profile::Native {
            "native"
        } else {
            "web"
        }),
    );
    put("client_name", json!(app.name));
    put("scope", json!(app.scopes.join(" ")));
    for (k, v) in [
        ("client_uri", &app.website),
        ("logo_uri", &app.logo_uri),
        ("policy_uri", &app.policy_uri),
        ("tos_uri", &app.registration.tos_uri),
        ("software_id", &app.registration.software_id),
        ("software_version", &app.registration.software_version),
    ] {
        if let Some(v) = v {
            put(k, json!(v));
        }
    }
    if !app.registration.contacts.is_empty() {
        put("contacts", json!(app.registration.contacts));
    }
    if !app.post_logout_redirect_uris.is_empty() {
        put(
            "post_logout_redirect_uris",
            json!(app.post_logout_redirect_uris),
        );
    }
    let a = &app.assurance;
    if let Some(jwks) = &a.jwks {
        put("jwks", jwks.clone());
    }
    if let Some(uri) = &a.jwks_uri {
        put("jwks_uri", json!(uri));
    }
    put(
        "id_token_signed_response_alg",
        json!(a.id_token_alg.as_str()),
    );
    put("subject_type", json!(a.subject_type.to_string()));
    if a.require_dpop {
        put("dpop_bound_access_tokens", json!(true));
    }
    if a.require_par {
        put("require_pushed_authorization_requests", json!(true));
    }
    if let Some(uri) = &app.backchannel_logout_uri {
        put("backchannel_logout_uri", json!(uri));
        put(
            "backchannel_logout_session_required",
            json!(app.backchannel_logout_session_required),
        );
    }
    Value::Object(m)
}

#[cfg(test)]
#[path = "registration_tests.rs"]
mod tests;
