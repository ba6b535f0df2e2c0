//! An LDAP directory as a user store (RFC 4511). Signing in is "search, then bind": the
//! service account searches `base_dn` for exactly one entry matching
//! `(&user_filter login_filter)`, then a simple Bind with that entry's DN and the user's
//! password decides (RFC 4513 §5.1.3). Values from outside — the login name, a `sub`, a
//! DN — enter filters only RFC 4515-escaped, so a login name like `*` or `)(uid=*`
//! matches nothing. A user whose entry is gone, or no longer matches `user_filter`
//! (the place to say "disabled"), is unknown from then on: no sign-in, no refresh, no
//! UserInfo.
//!
//! The `sub` of a directory user is `<store name>:<id_attribute value>` (binary values,
//! such as Active Directory's `objectGUID`, as base64url): stable across renames and
//! moves, and never equal to a database user's id, which has no `:`.

use ldap3::{Ldap, LdapError, Scope, SearchEntry, SearchOptions, ldap_escape};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use valet_protocol::user::Role;
use valet_protocol::user::UserClaims;

use super::config::LdapSettings;
use super::pool::{BindPassword, Health, Pool, Unavailable, tls_config};
use super::{Found, User};
use crate::crypto::{b64, unb64};
use crate::passwords::MAX_PASSWORD_LEN;

/// RFC 4511 §4.1.9 resultCode values Valet tells apart.
const SUCCESS: u32 = 0;
const SIZE_LIMIT_EXCEEDED: u32 = 4;
const INVALID_CREDENTIALS: u32 = 49;
/// Longest `sub` OpenID Connect allows (Core §2: at most 255 ASCII characters).
const MAX_SUB: usize = 255;

pub struct Directory {
    name: String,
    s: LdapSettings,
    search: Pool,
    bind: Pool,
    attributes: Vec<String>,
}

impl Directory {
    /// Reads the service account's password (file or environment variable) and prepares
    /// the pools; connects lazily, so Valet starts while a directory is down.
    pub fn new(name: &str, s: LdapSettings) -> Result<Self, String> {
        use super::config::PasswordSource;
        let credentials = match &s.bind {
            None => None,
            Some((dn, source)) => {
                let password = match source {
                    PasswordSource::File(path) => std::fs::read_to_string(path)
                        .map_err(|e| {
                            format!(
                                "user_stores `{name}`: cannot read bind_password_file {}: {e}",
                                path.display()
                            )
                        })?
                        .trim_end_matches(['\r', '\n'])
                        .to_owned(),
                    PasswordSource::Env(var) => std::env::var(var).map_err(|_| {
                        format!("user_stores `{name}`: environment variable {var} is not set")
                    })?,
                };
                if password.is_empty() {
                    // An empty password would be an unauthenticated bind (RFC 4513 §5.1.2).
                    return Err(format!(
                        "user_stores `{name}`: the service account's password is empty"
                    ));
                }
                Some((dn.clone(), BindPassword::new(password)))
            }
        };
        let tls = tls_config(&s, name)?;
        let health = Arc::new(Health::default());
        let search = Pool::new(
            format!("{name}/search"),
            &s,
            tls.clone(),
            credentials,
            health.clone(),
        );
        let bind = Pool::new(format!("{name}/bind"), &s, tls, None, health);
        let c = &s.claims;
        let mut attributes: Vec<String> = [
            Some(&s.id_attribute),
            c.preferred_username.as_ref(),
            c.name.as_ref(),
            c.given_name.as_ref(),
            c.family_name.as_ref(),
            c.email.as_ref(),
            c.phone_number.as_ref(),
            c.locale.as_ref(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        attributes.sort();
        attributes.dedup();
        Ok(Self {
            name: name.to_owned(),
            s,
            search,
            bind,
            attributes,
        })
    }

    /// Checks `password` for `login`: `Unknown` when no single entry matches, `Wrong`
    /// when the directory refuses the bind.
    pub async fn authenticate(&self, login: &str, password: &str) -> Result<Found, Unavailable> {
        // RFC 4513 §5.1.2: a simple Bind with a DN and an empty password is an
        // "unauthenticated" bind that many servers answer with success. Never send one.
        if password.is_empty() || password.len() > MAX_PASSWORD_LEN || login.len() > 256 {
            return Ok(Found::Unknown);
        }
        let filter = fill(&self.s.login_filter, &[("{login}", &ldap_escape(login))]);
        let Some(entry) = self.find_one(&filter).await? else {
            // The usual cause when nobody can sign in: a `user_filter` naming an attribute
            // the directory's schema lacks (OpenLDAP without ppolicy has no
            // pwdAccountLockedTime) matches no entry at all (RFC 4511 §4.5.1.7).
            tracing::debug!(store = %self.name, "no entry matched the filter");
            return Ok(Found::Unknown);
        };
        let (dn, password) = (entry.dn.clone(), password.to_owned());
        let rc = self
            .bind
            .run(|mut ldap: Ldap| {
                let (dn, password) = (&dn, &password);
                async move { Ok(ldap.simple_bind(dn, password).await?.rc) }
            })
            .await?;
        match rc {
            SUCCESS => match self.user(entry, login).await? {
                Some(u) => Ok(Found::User(Box::new(u))),
                None => Ok(Found::Unknown),
            },
            INVALID_CREDENTIALS => Ok(Found::Wrong),
            other => {
                // Locked, expired or otherwise refused (e.g. unwillingToPerform, 53).
                tracing::info!(directory = %self.name, rc = other, "the directory refused a bind");
                Ok(Found::Wrong)
            }
        }
    }

    /// The user whose `id_attribute` is `id` (the part of the `sub` after `name:`), if
    /// the entry still exists and matches `user_filter`.
    pub async fn by_id(&self, id: &str) -> Result<Option<User>, Unavailable> {
        let value = if self.s.id_binary {
            match unb64(id) {
                Some(bytes) if !bytes.is_empty() => escape_bytes(&bytes),
                _ => return Ok(None),
            }
        } else if id.is_empty() {
            return Ok(None);
        } else {
            ldap_escape(id).into_owned()
        };
        let filter = format!("({}={value})", self.s.id_attribute);
        match self.find_one(&filter).await? {
            Some(entry) => self.user(entry, "").await,
            None => Ok(None),
        }
    }

    /// The one entry under `base_dn` matching `user_filter` and `filter`, if exactly one
    /// does; two or more is a directory mistake, refused and logged.
    async fn find_one(&self, filter: &str) -> Result<Option<SearchEntry>, Unavailable> {
        let filter = format!("(&{}{filter})", self.s.user_filter);
        let base = self.s.base_dn.as_str();
        let attributes = &self.attributes;
        let (entries, rc) = self
            .search
            .run(|mut ldap: Ldap| {
                let filter = &filter;
                async move {
                    let r = ldap
                        .with_search_options(SearchOptions::new().sizelimit(2))
                        .search(base, Scope::Subtree, filter, attributes)
                        .await?;
                    match r.1.rc {
                        SUCCESS | SIZE_LIMIT_EXCEEDED => Ok((r.0, r.1.rc)),
                        _ => Err(LdapError::LdapResult { result: r.1 }),
                    }
                }
            })
            .await?;
        let entries: Vec<SearchEntry> = entries
            .into_iter()
            .filter(|e| !e.is_ref() && !e.is_intermediate())
            .filter_map(construct)
            .collect();
        if rc == SIZE_LIMIT_EXCEEDED || entries.len() > 1 {
            tracing::warn!(directory = %self.name,
                "more than one directory entry matches one login name or id; refusing both");
            return Ok(None);
        }
        Ok(entries.into_iter().next())
    }

    /// The user an entry describes; `None` (logged) when it lacks a usable id.
    async fn user(&self, entry: SearchEntry, login: &str) -> Result<Option<User>, Unavailable> {
        let attrs: HashMap<String, Vec<String>> = entry
            .attrs
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        let first = |a: &Option<String>| {
            a.as_ref()
                .and_then(|a| attrs.get(&a.to_ascii_lowercase()))
                .and_then(|v| v.first())
                .filter(|v| !v.is_empty())
                .cloned()
        };
        let Some(id) = self.id_of(&entry) else {
            tracing::warn!(directory = %self.name, attribute = %self.s.id_attribute,
                "a directory entry has no usable id attribute; it cannot sign in");
            return Ok(None);
        };
        let sub = format!("{}:{id}", self.name);
        if sub.len() > MAX_SUB {
            tracing::warn!(directory = %self.name, "a directory id is too long to be a sub");
            return Ok(None);
        }
        let c = &self.s.claims;
        let email = first(&c.email);
        let claims = UserClaims {
            name: first(&c.name),
            given_name: first(&c.given_name),
            family_name: first(&c.family_name),
            email_verified: email.is_some() && self.s.email_verified,
            email,
            phone_number: first(&c.phone_number),
            phone_number_verified: false,
            locale: first(&c.locale),
            // Released from `extra` below, looked up at each use.
            groups: Vec::new(),
        };
        let username = first(&c.preferred_username).unwrap_or_else(|| login.to_owned());
        let mut extra = Map::new();
        let mut role = Role::None;
        if let Some(g) = &self.s.groups {
            let filter = fill(
                &g.filter,
                &[
                    ("{dn}", &ldap_escape(entry.dn.as_str())),
                    ("{login}", &ldap_escape(username.as_str())),
                ],
            );
            let wanted = [g.name_attribute.as_str()];
            let base = g.base_dn.as_str();
            let found = self
                .search
                .run(|mut ldap: Ldap| {
                    let (filter, wanted) = (&filter, &wanted);
                    async move {
                        let r = ldap
                            .search(base, Scope::Subtree, filter, wanted)
                            .await?
                            .success()?;
                        Ok(r.0)
                    }
                })
                .await?;
            let key = g.name_attribute.to_ascii_lowercase();
            let mut names: Vec<String> = found
                .into_iter()
                .filter_map(construct)
                .filter_map(|e| {
                    e.attrs
                        .into_iter()
                        .find(|(k, _)| k.to_ascii_lowercase() == key)
                        .and_then(|(_, v)| v.into_iter().next())
                })
                .collect();
            names.sort();
            names.dedup();
            let member = |group: &Option<String>| {
                group
                    .as_ref()
                    .is_some_and(|want| names.iter().any(|n| n.eq_ignore_ascii_case(want)))
            };
            if member(&g.admin_group) {
                role = Role::Admin;
            } else if member(&g.viewer_group) {
                role = Role::Viewer;
            }
            extra.insert(
                g.claim.clone(),
                Value::Array(names.into_iter().map(Value::String).collect()),
            );
        }
        Ok(Some(User {
            id: sub,
            username,
            claims,
            extra,
            role,
        }))
    }

    fn id_of(&self, entry: &SearchEntry) -> Option<String> {
        let want = self.s.id_attribute.to_ascii_lowercase();
        let text = entry
            .attrs
            .iter()
            .find(|(k, _)| k.to_ascii_lowercase() == want)
            .and_then(|(_, v)| v.first())
            .map(|v| v.as_bytes().to_vec());
        let bytes = text.or_else(|| {
            entry
                .bin_attrs
                .iter()
                .find(|(k, _)| k.to_ascii_lowercase() == want)
                .and_then(|(_, v)| v.first().cloned())
        })?;
        if bytes.is_empty() {
            return None;
        }
        if self.s.id_binary {
            return Some(b64(&bytes));
        }
        let text = String::from_utf8(bytes).ok()?;
        // A sub is printable ASCII with no spaces here, so it survives every encoding.
        text.chars().all(|c| c.is_ascii_graphic()).then_some(text)
    }
}

/// A search result entry, parsed; `None` for one that does not parse. (`construct`
/// panics on malformed BER from the server; a directory must not crash a request.)
fn construct(e: ldap3::ResultEntry) -> Option<SearchEntry> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| SearchEntry::construct(e))).ok()
}

/// `template` with each placeholder replaced in one pass, so a value that happens to
/// contain another placeholder's text is never substituted again.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    'scan: while !rest.is_empty() {
        for (key, value) in values {
            if let Some(after) = rest.strip_prefix(key) {
                out.push_str(value);
                rest = after;
                continue 'scan;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

/// Every byte as `\hh`: the RFC 4515 §3 form of an arbitrary octet string value.
fn escape_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_are_escaped() {
        assert_eq!(ldap_escape("*"), "\\2a");
        assert_eq!(ldap_escape(")(uid=*"), "\\29\\28uid=\\2a");
        assert_eq!(ldap_escape("a\\b\0"), "a\\5cb\\00");
        assert_eq!(escape_bytes(&[0x01, 0xab]), "\\01\\ab");
        assert_eq!(
            fill(
                "(&(member={dn})(x={login}))",
                &[("{dn}", "cn={login}"), ("{login}", "ada")]
            ),
            "(&(member=cn={login})(x=ada))"
        );
    }
}
