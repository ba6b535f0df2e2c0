//! The `[[upstreams]]` tables of the TOML file (issue 18): the identity providers people
//! may sign in with. Only the file sets them (an ordered list of tables has no flag or
//! `VALET_*` form); unknown keys are refused by name and every value is checked at start.
//! The client secret may be written in the table (`client_secret`), or named:
//! `client_secret_file`, `client_secret_env` — read only by `valet serve`.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;
use valet_protocol::upstream::{Mapping, Policy};

/// One `[[upstreams]]` table as written (and, without its secret, as a provider added
/// through the administration is stored).
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub id: String,
    pub name: String,
    /// An OpenID Connect provider: its issuer, whose discovery document gives the rest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// A plain OAuth 2.0 provider (GitHub): its endpoints, written out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    pub client_id: String,
    #[serde(skip_serializing)]
    pub client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// `client_secret_basic` (the default) or `client_secret_post`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
    /// Space-separated, or a list; `openid email profile` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Scopes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<ClaimsConfig>,
    /// Email domains whose people this provider signs in (home-realm discovery).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domains: Option<Vec<String>>,
    /// `create` (the default: just-in-time accounts) or `existing` (linked accounts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_by_verified_email: Option<bool>,
    /// Take the provider's `amr` as the session's (its `mfa` then counts as two factors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_mfa: Option<bool>,
    /// Keep the provider's refresh token, sealed, with the link (for token exchange).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_refresh_token: Option<bool>,
    /// Seconds any one call to the provider may take (default 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

impl std::fmt::Debug for UpstreamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamConfig")
            .field("id", &self.id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Scopes {
    Text(String),
    List(Vec<String>),
}

/// `[upstreams.claims]`: Valet's claim → the provider's claim (a member of the ID token or
/// of the UserInfo / user API answer).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimsConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<String>,
}

/// Where the client secret is.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    Inline(String),
    File(PathBuf),
    Env(String),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Inline([redacted])"),
            Self::File(p) => write!(f, "File({})", p.display()),
            Self::Env(v) => write!(f, "Env({v})"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// RFC 6749 §2.3.1, HTTP Basic with the form-encoded id and secret.
    Basic,
    /// RFC 6749 §2.3.1, the id and secret in the form body.
    Post,
}

/// How the provider is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// OpenID Connect: discovery from the issuer (OIDC Discovery §4), ID tokens.
    Oidc { issuer: String },
    /// Plain OAuth 2.0: the endpoints, and a user API in place of an ID token.
    OAuth {
        authorization_endpoint: String,
        token_endpoint: String,
        userinfo_endpoint: String,
    },
}

/// One upstream provider, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamSettings {
    pub id: String,
    pub name: String,
    pub source: Source,
    pub client_id: String,
    pub secret: SecretSource,
    pub auth_method: AuthMethod,
    pub scopes: Vec<String>,
    pub mapping: Mapping,
    /// Lowercase.
    pub domains: Vec<String>,
    pub policy: Policy,
    pub keep_refresh_token: bool,
    /// The provider's `amr` (its `mfa`) is believed (`protocol::upstream::session_amr`).
    pub trust_mfa: bool,
    pub timeout: Duration,
}

const ID_RULE: &str =
    "1 to 32 lowercase letters, digits, `-` or `_`, starting with a letter or digit";

/// The providers as configured (none when the key is absent).
pub fn resolve(tables: Option<Vec<UpstreamConfig>>) -> Result<Vec<UpstreamSettings>, String> {
    let mut out: Vec<UpstreamSettings> = Vec::new();
    for t in tables.unwrap_or_default() {
        let u = one(t)?;
        if out.iter().any(|o| o.id == u.id) {
            return Err(format!("upstreams: the id `{}` is used twice", u.id));
        }
        for d in &u.domains {
            if let Some(o) = out.iter().find(|o| o.domains.contains(d)) {
                return Err(format!(
                    "upstreams: the domain `{d}` is offered by both `{}` and `{}`",
                    o.id, u.id
                ));
            }
        }
        out.push(u);
    }
    Ok(out)
}

/// One table, checked (the file's, or a stored provider's with its secret opened).
pub fn one(t: UpstreamConfig) -> Result<UpstreamSettings, String> {
    let id = t.id.clone();
    let valid_id = !id.is_empty()
        && id.len() <= 32
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid_id {
        return Err(format!("upstreams: id `{id}` must be {ID_RULE}"));
    }
    let at = |key: &str| format!("upstreams `{id}`: {key}");
    let name = t.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(format!("{} must be 1 to 64 characters", at("name")));
    }
    valet_protocol::text::check_printable("name", &name).map_err(|e| at(&e))?;
    let source = match (
        t.issuer,
        t.authorization_endpoint,
        t.token_endpoint,
        t.userinfo_endpoint,
    ) {
        (Some(issuer), None, None, None) => {
            check_url(&issuer).map_err(|e| format!("{} {e}", at("issuer")))?;
            Source::Oidc { issuer }
        }
        (Some(_), ..) => {
            return Err(format!(
                "{}: with `issuer` the endpoints come from its discovery document; \
                 leave out authorization_endpoint, token_endpoint and userinfo_endpoint",
                at("issuer")
            ));
        }
        (None, Some(a), Some(tk), Some(u)) => {
            for (key, v) in [
                ("authorization_endpoint", &a),
                ("token_endpoint", &tk),
                ("userinfo_endpoint", &u),
            ] {
                check_url(v).map_err(|e| format!("{} {e}", at(key)))?;
            }
            Source::OAuth {
                authorization_endpoint: a,
                token_endpoint: tk,
                userinfo_endpoint: u,
            }
        }
        (None, ..) => {
            return Err(format!(
                "{}: name the provider's `issuer` (OpenID Connect), or all of \
                 authorization_endpoint, token_endpoint and userinfo_endpoint (plain OAuth 2.0)",
                at("issuer")
            ));
        }
    };
    if t.client_id.is_empty() || t.client_id.len() > 255 {
        return Err(format!("{} must be 1 to 255 characters", at("client_id")));
    }
    let secret = match (t.client_secret, t.client_secret_file, t.client_secret_env) {
        (Some(s), None, None) if !s.is_empty() => SecretSource::Inline(s),
        (None, Some(f), None) => SecretSource::File(f),
        (None, None, Some(v)) if !v.is_empty() => SecretSource::Env(v),
        _ => {
            return Err(format!(
                "{}: give exactly one of client_secret, client_secret_file, client_secret_env",
                at("client_secret")
            ));
        }
    };
    let auth_method = match t.auth_method.as_deref() {
        None | Some("client_secret_basic") => AuthMethod::Basic,
        Some("client_secret_post") => AuthMethod::Post,
        Some(other) => {
            return Err(format!(
                "{} must be `client_secret_basic` or `client_secret_post`, not `{other}`",
                at("auth_method")
            ));
        }
    };
    let scopes: Vec<String> = match t.scopes {
        None => vec!["openid".into(), "email".into(), "profile".into()],
        Some(Scopes::Text(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Scopes::List(l)) => l,
    };
    if scopes.iter().any(|s| {
        s.is_empty()
            || !s
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
    }) {
        return Err(format!(
            "{} must be RFC 6749 §3.3 scope tokens",
            at("scopes")
        ));
    }
    if matches!(source, Source::Oidc { .. }) && !scopes.iter().any(|s| s == "openid") {
        return Err(format!(
            "{} must include `openid`: an OpenID Connect provider signs people in with an ID token",
            at("scopes")
        ));
    }
    let c = t.claims.unwrap_or_default();
    let d = Mapping::default();
    let pick = |v: Option<String>, default: String| v.filter(|s| !s.is_empty()).unwrap_or(default);
    let mapping = Mapping {
        sub: pick(c.sub, d.sub),
        email: pick(c.email, d.email),
        email_verified: pick(c.email_verified, d.email_verified),
        name: pick(c.name, d.name),
        preferred_username: pick(c.preferred_username, d.preferred_username),
        given_name: pick(c.given_name, d.given_name),
        family_name: pick(c.family_name, d.family_name),
        groups: c.groups.filter(|s| !s.is_empty()),
    };
    let mut domains = Vec::new();
    for dom in t.domains.unwrap_or_default() {
        let dom = dom.trim().trim_start_matches('@').to_ascii_lowercase();
        let ok = !dom.is_empty()
            && dom.len() <= 253
            && dom.contains('.')
            && dom
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !ok {
            return Err(format!("{}: `{dom}` is not a domain name", at("domains")));
        }
        domains.push(dom);
    }
    let create_users = match t.users.as_deref() {
        None | Some("create") => true,
        Some("existing") => false,
        Some(other) => {
            return Err(format!(
                "{} must be `create` or `existing`, not `{other}`",
                at("users")
            ));
        }
    };
    let timeout = t.timeout.unwrap_or(10);
    if !(1..=60).contains(&timeout) {
        return Err(format!("{} must be 1 to 60 seconds", at("timeout")));
    }
    Ok(UpstreamSettings {
        id,
        name,
        source,
        client_id: t.client_id,
        secret,
        auth_method,
        scopes,
        mapping,
        domains,
        policy: Policy {
            create_users,
            link_by_verified_email: t.link_by_verified_email.unwrap_or(false),
        },
        keep_refresh_token: t.keep_refresh_token.unwrap_or(false),
        trust_mfa: t.trust_mfa.unwrap_or(false),
        timeout: Duration::from_secs(timeout),
    })
}

/// An absolute https URL, or http to a loopback host (development, tests); no fragment
/// and no user info.
pub fn check_url(v: &str) -> Result<(), String> {
    let u = url::Url::parse(v).map_err(|e| format!("`{v}` is not a URL: {e}"))?;
    let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match u.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(format!("`{v}` must be https (http only to localhost)")),
    }
    if u.fragment().is_some() || !u.username().is_empty() || u.password().is_some() {
        return Err(format!("`{v}` may not have a fragment or user info"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<Vec<UpstreamSettings>, String> {
        #[derive(Deserialize)]
        struct File {
            upstreams: Vec<UpstreamConfig>,
        }
        let f: File = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        resolve(Some(f.upstreams))
    }

    const SMALLEST: &str = "[[upstreams]]\nid = \"corp\"\nname = \"Corp\"\n\
        issuer = \"https://idp.corp.example\"\nclient_id = \"valet\"\nclient_secret = \"s3cret\"\n";

    #[test]
    fn the_smallest_table_has_its_defaults() {
        let u = &parse(SMALLEST).unwrap()[0];
        assert_eq!(u.scopes, ["openid", "email", "profile"]);
        assert_eq!(u.auth_method, AuthMethod::Basic);
        assert!(u.policy.create_users && !u.policy.link_by_verified_email);
        assert_eq!(u.mapping, Mapping::default());
        assert!(!format!("{u:?}").contains("s3cret"));
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (SMALLEST.replace("corp\"\nname", "Corp!\"\nname"), "id `Corp!`"),
            (SMALLEST.replace("https://idp", "http://idp"), "must be https"),
            (format!("{SMALLEST}scopes = \"email\"\n"), "must include `openid`"),
            (format!("{SMALLEST}users = \"maybe\"\n"), "`create` or `existing`"),
            (format!("{SMALLEST}colour = \"red\"\n"), "unknown field `colour`"),
            (format!("{SMALLEST}client_secret_env = \"X\"\n"), "exactly one of"),
            (format!("{SMALLEST}token_endpoint = \"https://x.example/t\"\n"), "discovery"),
            (format!("{SMALLEST}{SMALLEST}"), "used twice"),
            (
                "[[upstreams]]\nid = \"hub\"\nname = \"Hub\"\nclient_id = \"c\"\nclient_secret = \"s\"\n"
                    .into(),
                "plain OAuth 2.0",
            ),
        ];
        for (text, want) in cases {
            let e = parse(&text).unwrap_err();
            assert!(e.contains(want), "{want:?} not in {e:?}");
        }
    }

    #[test]
    fn a_plain_oauth_provider() {
        let text = "[[upstreams]]\nid = \"hub\"\nname = \"Hub\"\nclient_id = \"c\"\n\
            client_secret = \"s\"\nauth_method = \"client_secret_post\"\n\
            authorization_endpoint = \"http://127.0.0.1:9/authorize\"\n\
            token_endpoint = \"http://127.0.0.1:9/token\"\n\
            userinfo_endpoint = \"http://127.0.0.1:9/user\"\n\
            scopes = [\"read:user\"]\ndomains = [\"@Hub.Example\"]\n\
            [upstreams.claims]\nsub = \"id\"\npreferred_username = \"login\"\n";
        let u = &parse(text).unwrap()[0];
        assert!(matches!(u.source, Source::OAuth { .. }));
        assert_eq!(u.mapping.sub, "id");
        assert_eq!(u.domains, ["hub.example"]);
        assert_eq!(u.auth_method, AuthMethod::Post);
    }
}
