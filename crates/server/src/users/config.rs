//! The `[[user_stores]]` tables of the TOML file: which user stores exist, in which order
//! they are tried and which login names each may answer. Only the file sets them (an
//! ordered list of tables has no flag or `VALET_*` form); unknown keys are refused by
//! name, and every value is checked here, at start, so a bad filter or pattern never
//! waits for the first sign-in to fail. Secrets are not read here: `bind_password_file`
//! and `bind_password_env` name where the service account's password is, and only
//! `valet serve` reads it.

use regex::Regex;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// One `[[user_stores]]` table as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserStoreConfig {
    pub name: String,
    /// `database` (the built-in store) or `ldap`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A regular expression the whole login name must match for this store to be asked.
    pub login_pattern: Option<String>,
    pub url: Option<String>,
    pub starttls: Option<bool>,
    pub ca_file: Option<PathBuf>,
    pub base_dn: Option<String>,
    pub bind_dn: Option<String>,
    pub bind_password_file: Option<PathBuf>,
    pub bind_password_env: Option<String>,
    pub user_filter: Option<String>,
    pub login_filter: Option<String>,
    pub id_attribute: Option<String>,
    pub id_binary: Option<bool>,
    pub email_verified: Option<bool>,
    pub claims: Option<ClaimsConfig>,
    pub groups_base_dn: Option<String>,
    pub groups_filter: Option<String>,
    pub groups_name_attribute: Option<String>,
    pub groups_claim: Option<String>,
    /// Members of this group (by its name attribute) are Valet administrators.
    pub admin_group: Option<String>,
    /// Members of this group may read the administration.
    pub viewer_group: Option<String>,
    pub connect_timeout: Option<u64>,
    pub timeout: Option<u64>,
    pub pool_size: Option<usize>,
    pub retry_interval: Option<u64>,
}

/// `[user_stores.claims]`: OpenID Connect claim → directory attribute. An empty string
/// drops a claim.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimsConfig {
    pub preferred_username: Option<String>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub locale: Option<String>,
}

/// A user store, checked.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub name: String,
    /// Anchored: it must match the whole login name.
    pub login_pattern: Option<Regex>,
    pub kind: StoreKind,
}

#[derive(Debug, Clone)]
pub enum StoreKind {
    Database,
    Ldap(Box<LdapSettings>),
}

/// Where the service account's password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    File(PathBuf),
    Env(String),
}

#[derive(Debug, Clone)]
pub struct LdapSettings {
    pub url: String,
    pub starttls: bool,
    pub ca_file: Option<PathBuf>,
    pub base_dn: String,
    /// `None`: searches run anonymously.
    pub bind: Option<(String, PasswordSource)>,
    pub user_filter: String,
    /// Contains `{login}`, replaced by the RFC 4515-escaped login name.
    pub login_filter: String,
    pub id_attribute: String,
    pub id_binary: bool,
    pub email_verified: bool,
    pub claims: Claims,
    pub groups: Option<GroupSettings>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub pool_size: usize,
    pub retry_interval: Duration,
}

/// Attribute names per claim; `None` leaves the claim out.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    pub preferred_username: Option<String>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub locale: Option<String>,
}

#[derive(Debug, Clone)]
pub struct GroupSettings {
    pub base_dn: String,
    /// Contains `{dn}` (the user's DN) and/or `{login}`, both RFC 4515-escaped.
    pub filter: String,
    pub name_attribute: String,
    pub claim: String,
    /// The group whose members get the `admin` role (issue 15), and the `viewer` one.
    pub admin_group: Option<String>,
    pub viewer_group: Option<String>,
}

const NAME_RULE: &str =
    "1 to 32 lowercase letters, digits, `-` or `_`, starting with a letter or digit";

/// The stores as configured, or the built-in database alone when none are.
pub fn resolve(tables: Option<Vec<UserStoreConfig>>) -> Result<Vec<StoreSettings>, String> {
    let Some(tables) = tables else {
        return Ok(vec![StoreSettings {
            name: "database".into(),
            login_pattern: None,
            kind: StoreKind::Database,
        }]);
    };
    if tables.is_empty() {
        return Err("user_stores: list at least one store (or leave the key out)".into());
    }
    let mut out: Vec<StoreSettings> = Vec::new();
    for t in tables {
        let s = one(t)?;
        if out.iter().any(|o| o.name == s.name) {
            return Err(format!("user_stores: the name `{}` is used twice", s.name));
        }
        if matches!(s.kind, StoreKind::Database)
            && out.iter().any(|o| matches!(o.kind, StoreKind::Database))
        {
            return Err("user_stores: there is one built-in database store; list it once".into());
        }
        out.push(s);
    }
    Ok(out)
}

fn one(t: UserStoreConfig) -> Result<StoreSettings, String> {
    let name = t.name.clone();
    let valid_name = !name.is_empty()
        && name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid_name {
        return Err(format!("user_stores: name `{name}` must be {NAME_RULE}"));
    }
    let at = |key: &str| format!("user_stores `{name}`: {key}");
    let login_pattern = match &t.login_pattern {
        None => None,
        Some(p) => Some(
            regex::RegexBuilder::new(&format!("^(?:{p})$"))
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("{} is not a regular expression: {e}", at("login_pattern")))?,
        ),
    };
    let kind = match t.kind.as_str() {
        "database" => {
            let ldap_only = [
                ("url", t.url.is_some()),
                ("starttls", t.starttls.is_some()),
                ("ca_file", t.ca_file.is_some()),
                ("base_dn", t.base_dn.is_some()),
                ("bind_dn", t.bind_dn.is_some()),
                ("bind_password_file", t.bind_password_file.is_some()),
                ("bind_password_env", t.bind_password_env.is_some()),
                ("user_filter", t.user_filter.is_some()),
                ("login_filter", t.login_filter.is_some()),
                ("id_attribute", t.id_attribute.is_some()),
                ("id_binary", t.id_binary.is_some()),
                ("email_verified", t.email_verified.is_some()),
                ("claims", t.claims.is_some()),
                ("groups_base_dn", t.groups_base_dn.is_some()),
                ("groups_filter", t.groups_filter.is_some()),
                ("groups_name_attribute", t.groups_name_attribute.is_some()),
                ("groups_claim", t.groups_claim.is_some()),
                ("admin_group", t.admin_group.is_some()),
                ("viewer_group", t.viewer_group.is_some()),
                ("connect_timeout", t.connect_timeout.is_some()),
                ("timeout", t.timeout.is_some()),
                ("pool_size", t.pool_size.is_some()),
                ("retry_interval", t.retry_interval.is_some()),
            ];
            if let Some((key, _)) = ldap_only.iter().find(|(_, set)| *set) {
                return Err(format!(
                    "{} applies to `type = \"ldap\"` stores only",
                    at(key)
                ));
            }
            StoreKind::Database
        }
        "ldap" => StoreKind::Ldap(Box::new(ldap(&name, t)?)),
        other => {
            return Err(format!(
                "{} must be `database` or `ldap`, not `{other}`",
                at("type")
            ));
        }
    };
    Ok(StoreSettings {
        name,
        login_pattern,
        kind,
    })
}

fn ldap(name: &str, t: UserStoreConfig) -> Result<LdapSettings, String> {
    let at = |key: &str| format!("user_stores `{name}`: {key}");
    let url = t.url.ok_or_else(|| format!("{} is required", at("url")))?;
    let starttls = t.starttls.unwrap_or(false);
    match url.split_once("://").map(|(s, _)| s) {
        Some("ldaps") if starttls => {
            return Err(format!(
                "{}: an ldaps:// URL is TLS already; StartTLS is for ldap:// URLs",
                at("starttls")
            ));
        }
        Some("ldap" | "ldaps") => {}
        _ => {
            return Err(format!(
                "{} must be an ldap:// or ldaps:// URL, not `{url}`",
                at("url")
            ));
        }
    }
    let base_dn = t
        .base_dn
        .filter(|b| !b.trim().is_empty())
        .ok_or_else(|| format!("{} is required", at("base_dn")))?;
    let source = match (t.bind_password_file, t.bind_password_env) {
        (Some(f), None) => Some(PasswordSource::File(f)),
        (None, Some(e)) if e.starts_with("VALET_") => {
            return Err(format!(
                "{}: `{e}` starts with VALET_, which Valet keeps for its own settings; \
                 choose another name",
                at("bind_password_env")
            ));
        }
        (None, Some(e)) if !e.is_empty() => Some(PasswordSource::Env(e)),
        (None, None) => None,
        _ => {
            return Err(format!(
                "{}: set bind_password_file or bind_password_env, not both",
                at("bind_password_file")
            ));
        }
    };
    let bind = match (t.bind_dn, source) {
        (Some(dn), Some(src)) => Some((dn, src)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(format!(
                "{} needs bind_password_file or bind_password_env",
                at("bind_dn")
            ));
        }
        (None, Some(_)) => return Err(format!("{} is missing", at("bind_dn"))),
    };
    let user_filter = t
        .user_filter
        .unwrap_or_else(|| "(objectClass=inetOrgPerson)".into());
    check_filter(&at("user_filter"), &user_filter, &[])?;
    let login_filter = t.login_filter.unwrap_or_else(|| "(uid={login})".into());
    if !login_filter.contains("{login}") {
        return Err(format!("{} must contain {{login}}", at("login_filter")));
    }
    check_filter(&at("login_filter"), &login_filter, &["{login}"])?;
    let groups = match (t.groups_base_dn, t.groups_filter) {
        (None, None) => {
            if t.groups_name_attribute.is_some()
                || t.groups_claim.is_some()
                || t.admin_group.is_some()
                || t.viewer_group.is_some()
            {
                return Err(format!("{} is required for groups", at("groups_base_dn")));
            }
            None
        }
        (Some(base_dn), filter) => {
            let filter =
                filter.unwrap_or_else(|| "(&(objectClass=groupOfNames)(member={dn}))".into());
            check_filter(&at("groups_filter"), &filter, &["{dn}", "{login}"])?;
            let claim = t.groups_claim.unwrap_or_else(|| "groups".into());
            if claim.is_empty() || is_standard_claim(&claim) {
                return Err(format!(
                    "{} must name a claim of its own, not `{claim}`",
                    at("groups_claim")
                ));
            }
            Some(GroupSettings {
                base_dn,
                filter,
                name_attribute: t.groups_name_attribute.unwrap_or_else(|| "cn".into()),
                claim,
                admin_group: t.admin_group,
                viewer_group: t.viewer_group,
            })
        }
        (None, Some(_)) => return Err(format!("{} is required for groups", at("groups_base_dn"))),
    };
    let secs = |key: &str, v: Option<u64>, default: u64, max: u64| {
        let v = v.unwrap_or(default);
        if v == 0 || v > max {
            return Err(format!(
                "{} must be between 1 and {max} seconds, not {v}",
                at(key)
            ));
        }
        Ok(Duration::from_secs(v))
    };
    let pool_size = t.pool_size.unwrap_or(4);
    if !(1..=64).contains(&pool_size) {
        return Err(format!(
            "{} must be between 1 and 64, not {pool_size}",
            at("pool_size")
        ));
    }
    let c = t.claims.unwrap_or_default();
    let attr = |v: Option<String>, default: Option<&str>| match v {
        Some(s) if s.is_empty() => None,
        Some(s) => Some(s),
        None => default.map(str::to_owned),
    };
    Ok(LdapSettings {
        url,
        starttls,
        ca_file: t.ca_file,
        base_dn,
        bind,
        user_filter,
        login_filter,
        id_attribute: t
            .id_attribute
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "entryUUID".into()),
        id_binary: t.id_binary.unwrap_or(false),
        email_verified: t.email_verified.unwrap_or(false),
        claims: Claims {
            preferred_username: attr(c.preferred_username, Some("uid")),
            name: attr(c.name, Some("cn")),
            given_name: attr(c.given_name, Some("givenName")),
            family_name: attr(c.family_name, Some("sn")),
            email: attr(c.email, Some("mail")),
            phone_number: attr(c.phone_number, None),
            locale: attr(c.locale, None),
        },
        groups,
        connect_timeout: secs("connect_timeout", t.connect_timeout, 3, 60)?,
        timeout: secs("timeout", t.timeout, 5, 120)?,
        pool_size,
        retry_interval: secs("retry_interval", t.retry_interval, 5, 600)?,
    })
}

/// The filter parses (RFC 4515) once its placeholders hold a plain value.
fn check_filter(what: &str, filter: &str, placeholders: &[&str]) -> Result<(), String> {
    let mut sample = filter.to_owned();
    for p in placeholders {
        sample = sample.replace(p, "x");
    }
    if !sample.starts_with('(') || ldap3::parse_filter(&sample).is_err() {
        return Err(format!(
            "{what}: `{filter}` is not an LDAP filter (RFC 4515), e.g. (objectClass=person)"
        ));
    }
    Ok(())
}

fn is_standard_claim(c: &str) -> bool {
    matches!(
        c,
        "sub"
            | "iss"
            | "aud"
            | "exp"
            | "iat"
            | "nbf"
            | "jti"
            | "auth_time"
            | "nonce"
            | "acr"
            | "amr"
            | "azp"
            | "name"
            | "given_name"
            | "family_name"
            | "preferred_username"
            | "email"
            | "email_verified"
            | "phone_number"
            | "phone_number_verified"
            | "locale"
            | "scope"
            | "client_id"
    )
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
