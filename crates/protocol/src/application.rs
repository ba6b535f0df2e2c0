//! Applications (OAuth clients, RFC 6749 §2): profiles, grant types, authentication
//! methods, and the registration rules an admin's input must pass.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::OAuthError;
use crate::opaque_token::AccessTokenFormat;
use crate::scope::{ADMIN_SCOPE, Scope};
use crate::text::{check_printable, check_uri_chars};

/// The four application profiles of the product spec; each picks safe defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Server-side web app: confidential, code + refresh.
    Web,
    /// Browser app: public, code with PKCE required, rotating refresh.
    Spa,
    /// Mobile or desktop app: public, code with PKCE required (RFC 8252).
    Native,
    /// Headless backend: confidential, client_credentials.
    Service,
    /// A TV, a CLI, an SSH session: public, the device authorization grant (RFC 8628) and
    /// rotating refresh, no redirect URI.
    Device,
}

impl Profile {
    /// RFC 6749 §2.1: confidential clients can keep a secret.
    pub fn is_confidential(self) -> bool {
        matches!(self, Self::Web | Self::Service)
    }

    pub fn default_grant_types(self) -> Vec<GrantType> {
        match self {
            Self::Web | Self::Spa | Self::Native => {
                vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
            }
            Self::Service => vec![GrantType::ClientCredentials],
            Self::Device => vec![GrantType::DeviceCode, GrantType::RefreshToken],
        }
    }

    pub fn default_auth_method(self) -> AuthMethod {
        if self.is_confidential() {
            AuthMethod::ClientSecretBasic
        } else {
            AuthMethod::None
        }
    }

    pub fn needs_redirect_uri(self) -> bool {
        !matches!(self, Self::Service | Self::Device)
    }
}

/// Grant types (RFC 6749 §4, §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    Password,
    Implicit,
    /// RFC 8628 §3.4.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

/// Client authentication methods at the token endpoint (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

macro_rules! wire_names {
    ($t:ty, $what:literal, $($v:ident => $s:literal),+ $(,)?) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
        }
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok(Self::$v),)+
                    other => Err(format!(
                        concat!("unknown ", $what, " `{}` (expected one of: {})"),
                        other,
                        [$($s),+].join(", ")
                    )),
                }
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_names!(Profile, "profile", Web => "web", Spa => "spa", Native => "native", Service => "service",
    Device => "device");
wire_names!(GrantType, "grant type",
    AuthorizationCode => "authorization_code",
    RefreshToken => "refresh_token",
    ClientCredentials => "client_credentials",
    Password => "password",
    Implicit => "implicit",
    DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
);
wire_names!(AuthMethod, "authentication method",
    ClientSecretBasic => "client_secret_basic",
    ClientSecretPost => "client_secret_post",
    None => "none",
);

/// An application's registration: everything but its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub client_id: String,
    pub name: String,
    pub description: Option<String>,
    pub website: Option<String>,
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub profile: Profile,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    /// Scopes the application may request; also its default when a request has no `scope`.
    pub scopes: Vec<String>,
    /// RFC 7591 §2: the method registered, `client_secret_basic` when none was given.
    pub token_endpoint_auth_method: AuthMethod,
    /// Whether an admin chose `token_endpoint_auth_method`. A confidential application
    /// registered without a choice accepts `client_secret_post` besides the default
    /// `client_secret_basic` (both carry the same secret; many libraries send `post`);
    /// one registered with a choice accepts exactly that method (`accepts_auth_method`).
    /// Registrations stored before this field read as not chosen.
    #[serde(default)]
    pub token_endpoint_auth_method_chosen: bool,
    /// First-party applications skip the consent page.
    pub trusted: bool,
    /// The user a `service` application acts as: its tokens carry this `sub`.
    pub service_subject: Option<String>,
    /// Where RP-initiated logout may send the user afterwards (exact string match).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    /// PKCE `plain` is refused unless an admin allows it here (RFC 7636 §7.2).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_plain_pkce: bool,
    /// Require PKCE from this confidential application too; public ones always must
    /// (RFC 9700 §2.1.1).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_pkce: bool,
    /// Browser origins, beyond those of the redirect URIs, that may call the token,
    /// revocation and UserInfo endpoints (CORS).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cors_origins: Vec<String>,
    /// JWT (the default) or opaque access tokens for this application; see
    /// `opaque_token::format_for` for how it combines with the APIs' choice.
    #[serde(default, skip_serializing_if = "AccessTokenFormat::is_jwt")]
    pub access_token_format: AccessTokenFormat,
    /// Who registered the application, and what an admin has said about it since (issue
    /// 14). Registrations stored before this field read as admin-registered.
    #[serde(default, skip_serializing_if = "Registration::is_admin")]
    pub registration: Registration,
}

/// Where a registration came from (the registration firewall, issue 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// An admin registered it (CLI, admin API, configuration).
    #[default]
    Admin,
    /// It registered itself at the registration endpoint (RFC 7591).
    Dynamic,
    /// Its `client_id` is the URL of its Client ID Metadata Document
    /// (draft-ietf-oauth-client-id-metadata-document).
    Cimd,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Dynamic => "dynamic",
            Self::Cimd => "cimd",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Admin, Self::Dynamic, Self::Cimd]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// The provenance of a registration and an admin's word on it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Registration {
    pub origin: Origin,
    /// An admin vouched for a self-registered application: the consent page stops saying
    /// "not verified by your administrator". Never makes it `trusted` (consent stays).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verified: bool,
    /// Registered but unusable until an admin approves it (the quarantine policy).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quarantined: bool,
    /// RFC 7591 `software_id` / `software_version`, when the application sent them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    /// RFC 7591 §2 `tos_uri` and `contacts` of a self-registered application (issue 14);
    /// kept to be echoed at RFC 7592 reads and shown to admins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
}

impl Registration {
    pub fn is_admin(&self) -> bool {
        *self == Self::default()
    }

    /// Registered by the application itself (dynamic or CIMD): never trusted, always
    /// shown with where it came from.
    pub fn is_self_registered(&self) -> bool {
        self.origin != Origin::Admin
    }
}

impl Application {
    pub fn is_confidential(&self) -> bool {
        self.token_endpoint_auth_method != AuthMethod::None
    }

    /// Whether a request may authenticate with `method` (RFC 6749 §2.3.1; checklist F6):
    /// the registered method, and `client_secret_post` too for a confidential application
    /// whose registration chose no method (RFC 7591 §2 makes `client_secret_basic` the
    /// default, and the two differ only in where the same secret travels).
    pub fn accepts_auth_method(&self, method: AuthMethod) -> bool {
        method == self.token_endpoint_auth_method
            || (!self.token_endpoint_auth_method_chosen
                && self.token_endpoint_auth_method == AuthMethod::ClientSecretBasic
                && method == AuthMethod::ClientSecretPost)
    }

    /// Every method `accepts_auth_method` accepts, registered one first.
    pub fn accepted_auth_methods(&self) -> Vec<AuthMethod> {
        [
            self.token_endpoint_auth_method,
            AuthMethod::ClientSecretBasic,
            AuthMethod::ClientSecretPost,
            AuthMethod::None,
        ]
        .into_iter()
        .fold(Vec::new(), |mut out, m| {
            if self.accepts_auth_method(m) && !out.contains(&m) {
                out.push(m);
            }
            out
        })
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether this application may hold `valet:admin`: a service that uses the
    /// client_credentials grant and nothing else, so its tokens never act for a user.
    pub fn may_hold_admin_scope(&self) -> bool {
        self.profile == Profile::Service
            && !self.grant_types.is_empty()
            && self
                .grant_types
                .iter()
                .all(|g| *g == GrantType::ClientCredentials)
    }

    /// The registered scopes a token may carry: all of them, but `valet:admin` only for an
    /// application that may hold it (a registration stored before that rule keeps the
    /// scope on paper and never gets it in a token).
    pub fn token_scopes(&self) -> Vec<String> {
        let may_admin = self.may_hold_admin_scope();
        self.scopes
            .iter()
            .filter(|s| may_admin || s.as_str() != ADMIN_SCOPE)
            .cloned()
            .collect()
    }

    /// The second line behind registration: a token carrying `valet:admin` is issued only
    /// by the client_credentials grant (`for_user` false) to an application that may hold
    /// it; never in a user's token, whatever the application.
    pub fn check_admin_scope(&self, scope: &Scope, for_user: bool) -> Result<(), OAuthError> {
        if scope.contains(ADMIN_SCOPE) && (for_user || !self.may_hold_admin_scope()) {
            return Err(OAuthError::invalid_scope(
                "the scope valet:admin is issued only to service applications by the \
                 client_credentials grant",
            ));
        }
        Ok(())
    }

    /// Scopes the application may request: its registered ones (`token_scopes`), plus
    /// the OpenID Connect scopes for applications that sign users in.
    pub fn allowed_scopes(&self) -> Vec<String> {
        let mut all = self.token_scopes();
        if self.profile != Profile::Service {
            for s in crate::scope::OIDC_SCOPES {
                if !all.iter().any(|a| a == s) {
                    all.push((*s).to_owned());
                }
            }
        }
        all
    }

    /// PKCE is mandatory for public applications and for those an admin marked.
    pub fn requires_pkce(&self) -> bool {
        !self.is_confidential() || self.require_pkce
    }

    /// Whether `uri` is one of the registered redirect URIs: simple string comparison
    /// (RFC 9700 §4.1.3, OIDC Core §3.1.2.1), never normalised. The one exception is RFC
    /// 8252 §7.3, for native applications only (the RFC is OAuth for native apps; a web
    /// or SPA application's loopback URI is a fixed development address): for a
    /// registered loopback URI without a port, any TCP port matches.
    ///
    /// Self-registered applications (dynamic or CIMD, issue 14) follow RFC 8252 §7.3 for
    /// every loopback URI they registered, `localhost` included and a registered port
    /// or not: a native client listens on whatever port the OS gave it this time, and
    /// the MCP SDK registers `http://localhost:PORT/callback` once and then comes back
    /// on another port. Scheme, host, path and query must still be identical.
    pub fn redirect_uri_matches(&self, uri: &str) -> bool {
        if self.registration.is_self_registered() {
            return self
                .redirect_uris
                .iter()
                .any(|r| r == uri || loopback_matches_any_port(r, uri));
        }
        let any_port = self.profile == Profile::Native;
        self.redirect_uris
            .iter()
            .any(|r| r == uri || (any_port && loopback_matches(r, uri)))
    }

    /// The origins (`scheme://host[:port]`) of the redirect URIs and the admin-added
    /// CORS origins: the browser origins allowed to call Valet's API endpoints.
    pub fn web_origins(&self) -> Vec<String> {
        let mut out: Vec<String> = self.cors_origins.clone();
        for uri in &self.redirect_uris {
            if let Some(o) = origin_of(uri) {
                if !out.contains(&o) {
                    out.push(o);
                }
            }
        }
        out
    }

    /// Checks a registration before it is stored. The messages name the offending value
    /// and say what to do, because an admin reads them at the command line.
    pub fn validate(&self) -> Result<(), String> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err("an application needs a name of 1 to 200 printable characters".into());
        }
        // Issue 12, item 16: free text is printable, URIs are ASCII.
        check_printable("name", &self.name)?;
        if let Some(d) = &self.description {
            check_printable("description", d)?;
        }
        if let Some(s) = &self.service_subject {
            check_printable("service user", s)?;
        }
        if self.profile.is_confidential() != self.is_confidential() {
            return Err(format!(
                "a {} application must use a {} authentication method",
                self.profile,
                if self.profile.is_confidential() {
                    "secret-based"
                } else {
                    "`none`"
                }
            ));
        }
        if self.profile.needs_redirect_uri() && self.redirect_uris.is_empty() {
            return Err(format!(
                "a {} application needs at least one --redirect-uri",
                self.profile
            ));
        }
        if self.profile == Profile::Device && !self.redirect_uris.is_empty() {
            return Err(
                "a device application has no redirect URI: people sign in on another device \
                 (RFC 8628); drop --redirect-uri"
                    .into(),
            );
        }
        for uri in &self.redirect_uris {
            validate_redirect_uri(uri, self.profile)?;
        }
        for uri in &self.post_logout_redirect_uris {
            validate_redirect_uri(uri, self.profile)
                .map_err(|e| e.replace("redirect URI", "post-logout redirect URI"))?;
        }
        for origin in &self.cors_origins {
            check_uri_chars("CORS origin", origin)?;
            if origin_of(origin).as_deref() != Some(origin.as_str()) {
                return Err(format!(
                    "CORS origin `{origin}` must look like https://app.example (scheme, host, optional port; lower case)"
                ));
            }
        }
        for (field, uri) in [
            ("website", &self.website),
            ("logo_uri", &self.logo_uri),
            ("policy_uri", &self.policy_uri),
        ] {
            let Some(uri) = uri else { continue };
            check_uri_chars(field, uri)?;
            if !uri.starts_with("https://") {
                return Err(format!("the {field} `{uri}` must be an https URL"));
            }
        }
        if self.grant_types.is_empty() {
            return Err("an application needs at least one grant type".into());
        }
        if self.grant_types.contains(&GrantType::ClientCredentials) && !self.is_confidential() {
            return Err("client_credentials needs a confidential application".into());
        }
        if self.grant_types.contains(&GrantType::Password) && !self.is_confidential() {
            return Err("the password grant is only for confidential applications".into());
        }
        let scope = self.scopes.join(" ");
        Scope::parse(&scope).map_err(|e| e.description().to_owned())?;
        if self.scopes.iter().any(|s| s == ADMIN_SCOPE) && !self.may_hold_admin_scope() {
            return Err(format!(
                "the scope {ADMIN_SCOPE} is only for service applications (--profile service) \
                 that use the client_credentials grant alone: with a {} application{}, every \
                 user who signs in to it would become a Valet administrator",
                self.profile,
                if self.profile == Profile::Service {
                    " that also acts for users"
                } else {
                    ""
                }
            ));
        }
        Ok(())
    }
}

/// Registration rules for one redirect URI (RFC 6749 §3.1.2; RFC 8252 §7; RFC 9700 §2.1,
/// §4.1.3). Matching at the authorization endpoint is exact string comparison, so the only
/// job here is to refuse URIs that are dangerous or can never match safely.
pub fn validate_redirect_uri(uri: &str, profile: Profile) -> Result<(), String> {
    // Issue 12, item 16: ASCII only (an invisible or reordering character would go raw
    // into `Location`); the messages below may then show the URI as it is.
    check_uri_chars("redirect URI", uri)?;
    let bad = |why: &str| Err(format!("redirect URI `{uri}` {why}"));
    if uri.len() > 2000 {
        return bad("is too long");
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("contains whitespace");
    }
    if uri.contains('#') {
        return bad("must not contain a fragment (RFC 6749 §3.1.2)");
    }
    if uri.contains('*') {
        return bad("must not contain a wildcard");
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return bad("is not an absolute URI");
    };
    let scheme_lc = scheme.to_ascii_lowercase();
    if scheme.is_empty()
        || !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return bad("is not an absolute URI");
    }
    if matches!(
        scheme_lc.as_str(),
        "javascript" | "data" | "vbscript" | "file"
    ) {
        return bad("uses a forbidden scheme");
    }
    if scheme_lc == "https" || scheme_lc == "http" {
        let Some(after) = rest.strip_prefix("//") else {
            return bad("is not an absolute URI");
        };
        let authority = after.split(['/', '?']).next().unwrap_or("");
        if authority.contains('@') || authority.contains('\\') {
            return bad("must not contain user information");
        }
        let host = host_of(authority);
        if host.is_empty() {
            return bad("has no host");
        }
        if scheme_lc == "http" && !is_loopback_host(host) {
            return bad("must use https unless it is a loopback address (RFC 8252 §7.3)");
        }
        return Ok(());
    }
    // A private-use scheme (RFC 8252 §7.1) is for native apps only.
    if profile == Profile::Native && scheme.contains('.') {
        return Ok(());
    }
    bad("must be https (private-use schemes such as `com.example.app:/cb` are for native apps)")
}

/// RFC 8252 §7.3: `http://127.0.0.1/cb` registered, `http://127.0.0.1:51234/cb` requested.
/// Everything but the port must be identical, and the request's port must be a TCP port
/// (1 to 65535) written canonically: `0`, `65536` or `00080` never match, so one
/// registration cannot be spelled several ways.
fn loopback_matches(registered: &str, requested: &str) -> bool {
    for host in ["127.0.0.1", "[::1]"] {
        let prefix = format!("http://{host}");
        let (Some(reg_rest), Some(req_rest)) = (
            registered.strip_prefix(&prefix),
            requested.strip_prefix(&prefix),
        ) else {
            continue;
        };
        // The registration names no port; the request names one, then the same rest.
        if !(reg_rest.is_empty() || reg_rest.starts_with(['/', '?'])) {
            return false;
        }
        let Some(after_colon) = req_rest.strip_prefix(':') else {
            return false;
        };
        let digits = after_colon.bytes().take_while(u8::is_ascii_digit).count();
        let port = &after_colon[..digits];
        if !is_canonical_port(port) {
            return false;
        }
        return &after_colon[digits..] == reg_rest;
    }
    false
}

/// RFC 8252 §7.3 for self-registered applications: `http://HOST[:PORT]REST` registered,
/// `http://HOST[:PORT']REST` requested, on the same loopback `HOST` (`127.0.0.1`, `[::1]`,
/// `localhost`, written identically) with the same `REST`; either port may be absent,
/// a present one must be canonical (`is_canonical_port`).
fn loopback_matches_any_port(registered: &str, requested: &str) -> bool {
    fn split(uri: &str) -> Option<(&str, &str)> {
        let rest = uri.strip_prefix("http://")?;
        let host = ["127.0.0.1", "[::1]", "localhost"]
            .into_iter()
            .find(|h| rest.starts_with(h))?;
        let after = &rest[host.len()..];
        let tail = match after.strip_prefix(':') {
            Some(p) => {
                let digits = p.bytes().take_while(u8::is_ascii_digit).count();
                if !is_canonical_port(&p[..digits]) {
                    return None;
                }
                &p[digits..]
            }
            None => after,
        };
        (tail.is_empty() || tail.starts_with(['/', '?'])).then_some((host, tail))
    }
    matches!((split(registered), split(requested)), (Some(a), Some(b)) if a == b)
}

/// A TCP port (1 to 65535) in decimal without leading zeros (RFC 3986 §3.2.3 allows any
/// digits; a listening port is never 0).
fn is_canonical_port(port: &str) -> bool {
    !port.is_empty()
        && port.len() <= 5
        && !port.starts_with('0')
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p))
}

/// `https://app.example:8443/cb?x` → `https://app.example:8443`; `None` for URIs that are
/// not http(s).
pub fn origin_of(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")) {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase()
    ))
}

fn host_of(authority: &str) -> &str {
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// RFC 8252 §7.3 loopback redirects; `localhost` is allowed but discouraged (§8.3).
pub fn is_loopback_host(host: &str) -> bool {
    host == "127.0.0.1" || host == "::1" || host.eq_ignore_ascii_case("localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        let ok = |u| validate_redirect_uri(u, Profile::Web).is_ok();
        assert!(ok("https://app.example/cb"));
        assert!(ok("http://127.0.0.1/cb"));
        assert!(ok("http://[::1]:8000/cb"));
        assert!(!ok("http://app.example/cb"));
        assert!(!ok("https://app.example/cb#x"));
        assert!(!ok("javascript:alert(1)"));
        assert!(!ok("JaVaScRiPt:alert(1)"));
        assert!(!ok("https://*.example/cb"));
        assert!(!ok("https://app.example@evil.com/cb"));
        assert!(!ok("/relative"));
        assert!(!ok("com.example.app:/cb"));
        assert!(validate_redirect_uri("com.example.app:/cb", Profile::Native).is_ok());
    }

    fn app_with(uris: &[&str]) -> Application {
        Application {
            client_id: "c".into(),
            name: "n".into(),
            description: None,
            website: None,
            logo_uri: None,
            policy_uri: None,
            profile: Profile::Native,
            redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: vec![],
            token_endpoint_auth_method: AuthMethod::None,
            token_endpoint_auth_method_chosen: false,
            trusted: false,
            service_subject: None,
            post_logout_redirect_uris: vec![],
            allow_plain_pkce: false,
            require_pkce: false,
            cors_origins: vec![],
            access_token_format: Default::default(),
            registration: Default::default(),
        }
    }

    #[test]
    fn redirect_uris_match_exactly() {
        // Checklist A1-A3: any byte of difference is a mismatch.
        let a = app_with(&["https://app.example/callback"]);
        assert!(a.redirect_uri_matches("https://app.example/callback"));
        for bad in [
            "https://app.example/CALLBACK",
            "https://app.example/callback/",
            "https://app.example/callback?x=1",
            "https://app.example/callback#frag",
            "https://app.example/callback/extra",
            "https://app.example:443/callback",
            "http://app.example/callback",
            "https://APP.example/callback",
            "https://app.example/callback/../evil",
            "https://app.example/callback/%2e%2e/evil",
            "https://app.example@evil.com/callback",
            "https://app.example%40evil.com/callback",
        ] {
            assert!(!a.redirect_uri_matches(bad), "{bad}");
        }
    }

    #[test]
    fn loopback_redirects_take_any_port() {
        // Checklist A4, RFC 8252 §7.3.
        let a = app_with(&["http://127.0.0.1/cb", "http://[::1]/cb"]);
        assert!(a.redirect_uri_matches("http://127.0.0.1:51234/cb"));
        assert!(a.redirect_uri_matches("http://[::1]:8000/cb"));
        assert!(a.redirect_uri_matches("http://127.0.0.1/cb"));
        for bad in [
            "http://127.0.0.1:51234/other",
            "http://127.0.0.1:51234/cb?x=1",
            "http://127.0.0.1:80@evil.com/cb",
            "http://127.0.0.1:/cb",
            "http://127.0.0.2:5000/cb",
            "http://localhost:5000/cb",
        ] {
            assert!(!a.redirect_uri_matches(bad), "{bad}");
        }
        let https = app_with(&["https://app.example/cb"]);
        assert!(!https.redirect_uri_matches("http://127.0.0.1:5000/cb"));
        // Issue 12, item 12: TCP ports only, written canonically.
        assert!(a.redirect_uri_matches("http://127.0.0.1:1/cb"));
        assert!(a.redirect_uri_matches("http://127.0.0.1:65535/cb"));
        for bad in [
            "http://127.0.0.1:0/cb",
            "http://127.0.0.1:65536/cb",
            "http://127.0.0.1:99999/cb",
            "http://127.0.0.1:00080/cb",
            "http://127.0.0.1:080/cb",
            "http://[::1]:0/cb",
        ] {
            assert!(!a.redirect_uri_matches(bad), "{bad}");
        }
        // Only native applications get any port; others match their URI exactly.
        for profile in [Profile::Web, Profile::Spa] {
            let mut other = app_with(&["http://127.0.0.1/cb"]);
            other.profile = profile;
            assert!(other.redirect_uri_matches("http://127.0.0.1/cb"));
            assert!(
                !other.redirect_uri_matches("http://127.0.0.1:51234/cb"),
                "{profile}"
            );
        }
    }

    #[test]
    fn self_registered_loopback_takes_any_port_localhost_included() {
        // RFC 8252 §7.3; issue 14's contract (the MCP SDK's http://localhost:PORT/callback).
        for origin in [Origin::Dynamic, Origin::Cimd] {
            let mut a = app_with(&["http://localhost:3000/callback", "http://127.0.0.1/cb"]);
            a.registration.origin = origin;
            for good in [
                "http://localhost:3000/callback",
                "http://localhost:51234/callback",
                "http://localhost/callback",
                "http://127.0.0.1:8080/cb",
                "http://127.0.0.1/cb",
            ] {
                assert!(a.redirect_uri_matches(good), "{good}");
            }
            for bad in [
                "http://127.0.0.1:3000/callback",
                "http://localhost:3000/callback/",
                "http://localhost:3000/callback?x=1",
                "http://localhost:0/callback",
                "http://localhost:03000/callback",
                "http://localhost:3000@evil.example/callback",
                "http://localhost.evil.example:3000/callback",
                "http://LOCALHOST:3000/callback",
                "https://localhost:3000/callback",
                "http://[::1]:3000/callback",
            ] {
                assert!(!a.redirect_uri_matches(bad), "{bad}");
            }
        }
        // An admin-registered native application keeps the stricter rule.
        let admin = app_with(&["http://localhost:3000/callback"]);
        assert!(!admin.redirect_uri_matches("http://localhost:4000/callback"));
    }

    #[test]
    fn valet_admin_only_for_pure_services() {
        // Issue 12, item 11.
        let mut svc = app_with(&[]);
        svc.profile = Profile::Service;
        svc.token_endpoint_auth_method = AuthMethod::ClientSecretBasic;
        svc.grant_types = vec![GrantType::ClientCredentials];
        svc.scopes = vec![ADMIN_SCOPE.into()];
        assert!(svc.validate().is_ok());
        assert_eq!(svc.token_scopes(), [ADMIN_SCOPE]);
        let admin = Scope::parse(ADMIN_SCOPE).unwrap();
        assert!(svc.check_admin_scope(&admin, false).is_ok());
        assert!(
            svc.check_admin_scope(&admin, true).is_err(),
            "never for a user"
        );

        svc.grant_types.push(GrantType::Password);
        assert!(svc.validate().unwrap_err().contains(ADMIN_SCOPE));
        assert!(svc.token_scopes().is_empty());
        assert!(svc.check_admin_scope(&admin, false).is_err());

        let mut native = app_with(&["http://127.0.0.1/cb"]);
        native.scopes = vec![ADMIN_SCOPE.into()];
        assert!(
            native
                .validate()
                .unwrap_err()
                .contains("native application")
        );
        assert!(!native.allowed_scopes().iter().any(|s| s == ADMIN_SCOPE));
    }

    #[test]
    fn an_unchosen_secret_method_accepts_basic_and_post() {
        // Issue 12, item 18.
        let mut a = app_with(&["https://app.example/cb"]);
        a.profile = Profile::Web;
        a.token_endpoint_auth_method = AuthMethod::ClientSecretBasic;
        use AuthMethod::{ClientSecretBasic as Basic, ClientSecretPost as Post};
        assert_eq!(a.accepted_auth_methods(), [Basic, Post]);
        assert!(!a.accepts_auth_method(AuthMethod::None));
        a.token_endpoint_auth_method_chosen = true;
        assert_eq!(a.accepted_auth_methods(), [Basic]);
        a.token_endpoint_auth_method = Post;
        assert_eq!(a.accepted_auth_methods(), [Post]);
        a.token_endpoint_auth_method_chosen = false;
        assert_eq!(
            a.accepted_auth_methods(),
            [Post],
            "post never widens to basic"
        );
        let public = app_with(&["http://127.0.0.1/cb"]);
        assert_eq!(public.accepted_auth_methods(), [AuthMethod::None]);

        // A registration stored before the field reads as not chosen.
        let mut v = serde_json::to_value(&a).unwrap();
        v.as_object_mut()
            .unwrap()
            .remove("token_endpoint_auth_method_chosen");
        let old: Application = serde_json::from_value(v).unwrap();
        assert!(!old.token_endpoint_auth_method_chosen);
    }

    #[test]
    fn origins_of_redirect_uris() {
        let mut a = app_with(&["https://App.example:8443/cb?x", "com.example.app:/cb"]);
        a.cors_origins = vec!["https://extra.example".into()];
        assert_eq!(
            a.web_origins(),
            ["https://extra.example", "https://app.example:8443"]
        );
    }

    #[test]
    fn wire_names_round_trip() {
        for g in ["authorization_code", "client_credentials", "refresh_token"] {
            assert_eq!(g.parse::<GrantType>().unwrap().as_str(), g);
        }
        let e = "bogus".parse::<Profile>().unwrap_err();
        assert!(e.contains("web, spa, native, service, device"));
        let d = "urn:ietf:params:oauth:grant-type:device_code";
        assert_eq!(d.parse::<GrantType>().unwrap(), GrantType::DeviceCode);
        assert_eq!(
            serde_json::to_value(GrantType::DeviceCode).unwrap(),
            serde_json::json!(d)
        );
    }
}
