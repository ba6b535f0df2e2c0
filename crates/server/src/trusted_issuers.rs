//! The `[[trusted_issuers]]` tables of the TOML file (issue 20): identity providers whose
//! signed assertions about their users an application may trade for a Valet access token
//! with the JWT bearer grant (RFC 7523 §2.1; the MCP enterprise-managed authorization
//! draft's ID-JAG). Each names its issuer, its keys (one of `jwks`, `jwks_uri`,
//! `jwks_file`), the APIs and scopes its assertions may yield, optionally which
//! applications may present them, and how the assertion names a Valet user.
//!
//! ```toml
//! [[trusted_issuers]]
//! issuer = "https://idp.example.com"
//! jwks_uri = "https://idp.example.com/jwks"
//! audiences = ["https://api.example.com"]
//! scopes = ["contacts:read"]
//! clients = ["agent"]          # optional: any application allowed the grant
//! users = "email"              # "id" (the default), "username", "email", "upstream:ID"
//! user_claim = "email"         # the claim naming the user; `sub` by default
//! ```
//!
//! Only the file sets them; unknown keys are refused by name and every value is checked at
//! start, so a typo never silently trusts the wrong party.

use serde::Deserialize;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use valet_jose::KeySet;
use valet_protocol::jwt_bearer::IssuerPolicy;
use valet_protocol::scope::Scope;

/// One `[[trusted_issuers]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuerConfig {
    pub issuer: String,
    /// The issuer's JWK Set, inline: a table, or the JSON text.
    pub jwks: Option<serde_json::Value>,
    /// Where the issuer publishes its JWK Set (https; fetched like applications' keys).
    pub jwks_uri: Option<String>,
    /// A file holding the JWK Set, read at start.
    pub jwks_file: Option<PathBuf>,
    /// The API audiences (`valet api create`) its assertions may yield tokens for.
    pub audiences: Vec<String>,
    /// The most any token from its assertions carries.
    pub scopes: Vec<String>,
    /// The applications that may present its assertions; all allowed the grant if unset.
    pub clients: Option<Vec<String>>,
    /// The claim that names the user (`sub` by default).
    pub user_claim: Option<String>,
    /// What that claim holds: `id` (a Valet user id, the default), `username` (a database
    /// account's login name), `email` (the one account with that verified address) or
    /// `upstream:ID` (the subject the upstream provider `ID` knows the user by).
    pub users: Option<String>,
}

/// How an assertion's claim finds the Valet user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserMapping {
    Id,
    Username,
    Email,
    Upstream(String),
}

/// Where an issuer's keys are.
#[derive(Debug, Clone)]
pub enum IssuerKeys {
    Set(Arc<KeySet>),
    Uri(String),
}

/// One trusted issuer, checked.
#[derive(Debug, Clone)]
pub struct TrustedIssuer {
    pub policy: IssuerPolicy,
    pub keys: IssuerKeys,
    pub user_claim: String,
    pub users: UserMapping,
}

/// Checks every table; the first fault names its issuer.
pub fn resolve(tables: Option<Vec<TrustedIssuerConfig>>) -> Result<Vec<TrustedIssuer>, String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for t in tables.unwrap_or_default() {
        let issuer = resolve_one(t)?;
        if !seen.insert(issuer.policy.issuer.clone()) {
            return Err(format!(
                "trusted_issuers: {} is listed twice",
                issuer.policy.issuer
            ));
        }
        out.push(issuer);
    }
    Ok(out)
}

fn resolve_one(t: TrustedIssuerConfig) -> Result<TrustedIssuer, String> {
    let name = t.issuer.clone();
    let fault = |why: &str| format!("trusted_issuers {name}: {why}");
    if t.issuer.is_empty() || t.issuer.len() > 2048 {
        return Err(fault("issuer must be a non-empty identifier"));
    }
    let keys = match (&t.jwks, &t.jwks_uri, &t.jwks_file) {
        (Some(jwks), None, None) => {
            let text = match jwks {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            IssuerKeys::Set(Arc::new(parse_set(text.as_bytes()).map_err(|e| fault(&e))?))
        }
        (None, Some(uri), None) => {
            if !uri.starts_with("https://") {
                return Err(fault("jwks_uri must be an https URL"));
            }
            IssuerKeys::Uri(uri.clone())
        }
        (None, None, Some(path)) => {
            let bytes = std::fs::read(path)
                .map_err(|e| fault(&format!("cannot read jwks_file {}: {e}", path.display())))?;
            IssuerKeys::Set(Arc::new(parse_set(&bytes).map_err(|e| fault(&e))?))
        }
        _ => return Err(fault("give exactly one of jwks, jwks_uri, jwks_file")),
    };
    if t.audiences.is_empty() {
        return Err(fault(
            "audiences must name at least one API its assertions may yield tokens for",
        ));
    }
    if t.scopes.is_empty() {
        return Err(fault("scopes must name at least one scope"));
    }
    for s in &t.scopes {
        let ok = Scope::parse(s).is_ok_and(|p| p.iter().count() == 1);
        if !ok {
            return Err(fault(&format!("`{s}` is not one scope token")));
        }
    }
    let users = match t.users.as_deref().unwrap_or("id") {
        "id" => UserMapping::Id,
        "username" => UserMapping::Username,
        "email" => UserMapping::Email,
        other => match other.strip_prefix("upstream:") {
            Some(id) if !id.is_empty() => UserMapping::Upstream(id.to_owned()),
            _ => {
                return Err(fault(&format!(
                    "users must be `id`, `username`, `email` or `upstream:ID`, not `{other}`"
                )));
            }
        },
    };
    let user_claim = t.user_claim.unwrap_or_else(|| "sub".to_owned());
    if user_claim.is_empty() {
        return Err(fault("user_claim must name a claim"));
    }
    Ok(TrustedIssuer {
        policy: IssuerPolicy {
            issuer: t.issuer,
            audiences: t.audiences,
            scopes: t.scopes,
            clients: t.clients.unwrap_or_default(),
        },
        keys,
        user_claim,
        users,
    })
}

fn parse_set(bytes: &[u8]) -> Result<KeySet, String> {
    let set = KeySet::parse(bytes).map_err(|_| "the JWK Set does not parse".to_owned())?;
    if set.is_empty() {
        return Err("the JWK Set holds no usable key".into());
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(extra: &str) -> Result<Vec<TrustedIssuer>, String> {
        #[derive(Deserialize)]
        struct File {
            trusted_issuers: Vec<TrustedIssuerConfig>,
        }
        let text = format!(
            "[[trusted_issuers]]\nissuer = \"https://idp.test\"\naudiences = [\"https://api.test\"]\n\
             scopes = [\"read\"]\n{extra}"
        );
        let f: File = toml::from_str(&text).map_err(|e| e.to_string())?;
        resolve(Some(f.trusted_issuers))
    }

    #[test]
    fn one_key_source_exactly() {
        assert!(table("").unwrap_err().contains("exactly one"));
        let both = "jwks_uri = \"https://idp.test/jwks\"\njwks_file = \"/nonexistent\"\n";
        assert!(table(both).unwrap_err().contains("exactly one"));
        assert!(
            table("jwks_uri = \"http://idp.test/jwks\"\n")
                .unwrap_err()
                .contains("https")
        );
        let ok = table("jwks_uri = \"https://idp.test/jwks\"\n").unwrap();
        assert!(matches!(ok[0].keys, IssuerKeys::Uri(_)));
        assert_eq!(ok[0].users, UserMapping::Id);
        assert_eq!(ok[0].user_claim, "sub");
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let uri = "jwks_uri = \"https://idp.test/jwks\"\n";
        let err = table(&format!("{uri}users = \"phone\"\n")).unwrap_err();
        assert!(err.contains("users must be"), "{err}");
        let err = table(&format!("{uri}bogus = 1\n")).unwrap_err();
        assert!(err.contains("bogus"), "{err}");
        let err = table("jwks = \"{}\"\n").unwrap_err();
        assert!(err.contains("JWK Set"), "{err}");
        let mapped = table(&format!("{uri}users = \"upstream:corp\"\n")).unwrap();
        assert_eq!(mapped[0].users, UserMapping::Upstream("corp".into()));
    }
}
