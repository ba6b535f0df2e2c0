//! Applications (OAuth clients, RFC 6749 §2): profiles, grant types, authentication
//! methods, and the registration rules an admin's input must pass.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::OAuthError;
pub use crate::assurance::{Assurance, SigningAlg, SubjectType};
use crate::opaque_token::AccessTokenFormat;
pub use crate::redirect_uri::{is_loopback_host, origin_of, validate_redirect_uri};
use crate::redirect_uri::{loopback_matches, loopback_matches_any_port};
use crate::scope::{ADMIN_SCOPE, Scope};
use crate::text::{check_printable, check_uri_chars};

/// The four application profiles of the product spec; each picks safe defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// A high-assurance web app (FAPI 2.0 Security Profile): confidential with
    /// private_key_jwt, pushed requests, PKCE S256 and DPoP-bound tokens (assurance.rs).
    Fapi2,
}

impl Profile {
    /// RFC 6749 §2.1: confidential clients can keep a secret.
    pub fn is_confidential(self) -> bool {
        matches!(self, Self::Web | Self::Service | Self::Fapi2)
    }

    pub fn default_grant_types(self) -> Vec<GrantType> {
        match self {
            Self::Web | Self::Spa | Self::Native | Self::Fapi2 => {
                vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
            }
            Self::Service => vec![GrantType::ClientCredentials],
            Self::Device => vec![GrantType::DeviceCode, GrantType::RefreshToken],
        }
    }

    pub fn default_auth_method(self) -> AuthMethod {
        if self == Self::Fapi2 {
            AuthMethod::PrivateKeyJwt
        } else if self.is_confidential() {
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// RFC 8693 §2.1: a token of a user (or service) exchanged for a narrower one.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
    /// RFC 7523 §2.1: a JWT from a trusted issuer stands for a user.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:jwt-bearer")]
    JwtBearer,
}

/// Client authentication methods at the token endpoint (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// RFC 7523 §2.2, OIDC Core §9: a JWT signed with one of the application's keys.
    PrivateKeyJwt,
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
    Device => "device", Fapi2 => "fapi2");
wire_names!(GrantType, "grant type",
    AuthorizationCode => "authorization_code",
    RefreshToken => "refresh_token",
    ClientCredentials => "client_credentials",
    Password => "password",
    Implicit => "implicit",
    DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
    TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
    JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
);
wire_names!(AuthMethod, "authentication method",
    ClientSecretBasic => "client_secret_basic",
    ClientSecretPost => "client_secret_post",
    PrivateKeyJwt => "private_key_jwt",
    None => "none",
);

/// An application's registration: everything but its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Require a second factor of whoever signs in to this application (issue 16): a
    /// session with the password alone steps up first.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_mfa: bool,
    /// Whether a refresh of a grant with `openid` brings a new ID token (OIDC Core §12.2
    /// makes it optional): on unless an admin turns it off, which spares a signature per
    /// refresh for an application that reads the ID token once, at sign-in. Registrations
    /// stored before this field read as on.
    #[serde(default = "on")]
    pub id_token_on_refresh: bool,
    /// Browser origins, beyond those of the redirect URIs, that may call the token,
    /// revocation and UserInfo endpoints (CORS).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cors_origins: Vec<String>,
    /// JWT (the default) or opaque access tokens for this application; see
    /// `opaque_token::format_for` for how it combines with the APIs' choice.
    #[serde(default, skip_serializing_if = "AccessTokenFormat::is_jwt")]
    pub access_token_format: AccessTokenFormat,
    /// Seconds this application's access (and ID) tokens last, when shorter than the
    /// server's `access_token_ttl` (issue 15); `None`: the server's. Never longer: the
    /// server's lifetimes bound how long revocations are remembered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_ttl: Option<i64>,
    /// Seconds this application's refresh tokens last, as `access_token_ttl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_ttl: Option<i64>,
    /// Where Valet POSTs a logout token when a user's session ends (OIDC Back-Channel
    /// Logout 1.0 §2.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// The application needs `sid` in logout tokens (§2.2); Valet always sends it for a
    /// session, so this only records the registration's word.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backchannel_logout_session_required: bool,
    /// Who registered the application, and what an admin has said about it since (issue
    /// 14). Registrations stored before this field read as admin-registered.
    #[serde(default, skip_serializing_if = "Registration::is_admin")]
    pub registration: Registration,
    /// Keys, pushed requests, DPoP, ID token algorithm, subject type (assurance.rs).
    #[serde(flatten)]
    pub assurance: Assurance,
}

fn on() -> bool {
    true
}

/// Where a registration came from (the registration firewall, issue 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// This application's lifetime for a token kind: its own when set, never past the
    /// server's.
    pub fn lifetime(own: Option<i64>, server: i64) -> i64 {
        own.map_or(server, |t| t.min(server))
    }

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
            AuthMethod::PrivateKeyJwt,
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

    /// PKCE is mandatory for public applications, for those an admin marked, and under
    /// FAPI 2.0 (§5.3.1.2 item 5).
    pub fn requires_pkce(&self) -> bool {
        !self.is_confidential() || self.require_pkce || self.is_fapi2()
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
        self.validate_fields().map_err(|(_, message)| message)
    }

    /// As `validate`, naming the field the problem is in (the admin API's per-field
    /// errors): the metadata name (`redirect_uris`, `grant_types`, …).
    pub fn validate_fields(&self) -> Result<(), (&'static str, String)> {
        let at = |field: &'static str| move |m: String| (field, m);
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err((
                "name",
                "an application needs a name of 1 to 200 printable characters".into(),
            ));
        }
        // Issue 12, item 16: free text is printable, URIs are ASCII.
        check_printable("name", &self.name).map_err(at("name"))?;
        if let Some(d) = &self.description {
            check_printable("description", d).map_err(at("description"))?;
        }
        if let Some(s) = &self.service_subject {
            check_printable("service user", s).map_err(at("service_subject"))?;
        }
        // Any application may authenticate with its keys (RFC 7523) instead of a secret;
        // otherwise a confidential profile has a secret and a public one none.
        let keyed = self.token_endpoint_auth_method == AuthMethod::PrivateKeyJwt;
        if !keyed && self.profile.is_confidential() != self.is_confidential() {
            return Err(at("token_endpoint_auth_method")(format!(
                "a {} application must use a {} authentication method",
                self.profile,
                if self.profile.is_confidential() {
                    "secret-based"
                } else {
                    "`none`"
                }
            )));
        }
        if self.profile.needs_redirect_uri() && self.redirect_uris.is_empty() {
            return Err(at("redirect_uris")(format!(
                "a {} application needs at least one --redirect-uri",
                self.profile
            )));
        }
        if self.profile == Profile::Device && !self.redirect_uris.is_empty() {
            return Err(at("redirect_uris")(
                "a device application has no redirect URI: people sign in on another device \
                 (RFC 8628); drop --redirect-uri"
                    .into(),
            ));
        }
        for uri in &self.redirect_uris {
            validate_redirect_uri(uri, self.profile).map_err(at("redirect_uris"))?;
        }
        for uri in &self.post_logout_redirect_uris {
            validate_redirect_uri(uri, self.profile)
                .map_err(|e| e.replace("redirect URI", "post-logout redirect URI"))
                .map_err(at("post_logout_redirect_uris"))?;
        }
        for origin in &self.cors_origins {
            check_uri_chars("CORS origin", origin).map_err(at("cors_origins"))?;
            if origin_of(origin).as_deref() != Some(origin.as_str()) {
                return Err(at("cors_origins")(format!(
                    "CORS origin `{origin}` must look like https://app.example (scheme, host, optional port; lower case)"
                )));
            }
        }
        for (field, uri) in [
            ("website", &self.website),
            ("logo_uri", &self.logo_uri),
            ("policy_uri", &self.policy_uri),
        ] {
            let Some(uri) = uri else { continue };
            check_uri_chars(field, uri).map_err(at(field))?;
            if !uri.starts_with("https://") {
                return Err((field, format!("the {field} `{uri}` must be an https URL")));
            }
        }
        if let Some(uri) = &self.backchannel_logout_uri {
            if self.profile == Profile::Service {
                return Err((
                    "backchannel_logout_uri",
                    "a service application signs no user in: it has no session to hear the end of"
                        .into(),
                ));
            }
            crate::backchannel::validate_uri(uri).map_err(at("backchannel_logout_uri"))?;
        }
        for (field, ttl, min) in [
            ("access_token_ttl", self.access_token_ttl, 10),
            ("refresh_token_ttl", self.refresh_token_ttl, 60),
        ] {
            if ttl.is_some_and(|t| t < min) {
                return Err((field, format!("{field} must be at least {min} seconds")));
            }
        }
        if self.grant_types.is_empty() {
            return Err((
                "grant_types",
                "an application needs at least one grant type".into(),
            ));
        }
        if self.grant_types.contains(&GrantType::ClientCredentials) && !self.is_confidential() {
            return Err((
                "grant_types",
                "client_credentials needs a confidential application".into(),
            ));
        }
        if self.grant_types.contains(&GrantType::Password) && !self.is_confidential() {
            return Err((
                "grant_types",
                "the password grant is only for confidential applications".into(),
            ));
        }
        // A token exchanged or an assertion redeemed at the token endpoint is a credential
        // of someone else's: only an application that authenticates may present one.
        for (g, what) in [
            (GrantType::TokenExchange, "token exchange (RFC 8693)"),
            (GrantType::JwtBearer, "the JWT bearer grant (RFC 7523)"),
        ] {
            if self.grant_types.contains(&g) && !self.is_confidential() {
                return Err((
                    "grant_types",
                    format!("{what} is only for confidential applications"),
                ));
            }
        }
        let scope = self.scopes.join(" ");
        Scope::parse(&scope).map_err(|e| ("scopes", e.description().to_owned()))?;
        if self.scopes.iter().any(|s| s == ADMIN_SCOPE) && !self.may_hold_admin_scope() {
            return Err(at("scopes")(format!(
                "the scope {ADMIN_SCOPE} is only for service applications (--profile service) \
                 that use the client_credentials grant alone: with a {} application{}, every \
                 user who signs in to it would become a Valet administrator",
                self.profile,
                if self.profile == Profile::Service {
                    " that also acts for users"
                } else {
                    ""
                }
            )));
        }
        self.validate_assurance()
    }
}

/// An application for unit tests elsewhere in the crate: `profile`'s defaults, these
/// grants and scopes, nothing else set.
#[cfg(test)]
pub(crate) fn for_tests(
    client_id: &str,
    profile: Profile,
    grant_types: Vec<GrantType>,
    scopes: &[&str],
) -> Application {
    Application {
        client_id: client_id.into(),
        name: client_id.into(),
        description: None,
        website: None,
        logo_uri: None,
        policy_uri: None,
        profile,
        redirect_uris: vec![],
        grant_types,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        token_endpoint_auth_method: profile.default_auth_method(),
        token_endpoint_auth_method_chosen: false,
        trusted: false,
        service_subject: None,
        post_logout_redirect_uris: vec![],
        allow_plain_pkce: false,
        require_pkce: false,
        require_mfa: false,
        id_token_on_refresh: true,
        cors_origins: vec![],
        access_token_format: Default::default(),
        registration: Default::default(),
        access_token_ttl: None,
        refresh_token_ttl: None,
        backchannel_logout_uri: None,
        assurance: Default::default(),
        backchannel_logout_session_required: false,
    }
}

#[cfg(test)]
#[path = "application_tests.rs"]
mod tests;
