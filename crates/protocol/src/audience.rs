//! APIs (resource servers) and the choice of a token's scopes and audience: RFC 6749 §3.3
//! (scope), RFC 8707 §2 (`resource`), RFC 9068 §3 (`aud` names the API).

use serde::{Deserialize, Serialize};

use crate::OAuthError;
use crate::opaque_token::AccessTokenFormat;
use crate::scope::{ADMIN_SCOPE, OIDC_SCOPES, Scope};
use crate::text::{check_printable, check_uri_chars};

/// An API registered with Valet: its audience and the scopes it defines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Api {
    pub audience: String,
    pub scopes: Vec<ApiScope>,
    /// Tokens whose audience includes this API are opaque if this says so (see
    /// `opaque_token::format_for`).
    #[serde(default, skip_serializing_if = "AccessTokenFormat::is_jwt")]
    pub access_token_format: AccessTokenFormat,
    /// The applications (client ids, confidential ones) this API introspects tokens as:
    /// each may look inside any token whose `aud` includes this API (see
    /// `introspection::may_see`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub introspectors: Vec<String>,
    /// The applications that may exchange a token into this API (RFC 8693; see
    /// `token_exchange`), each for some or all of its scopes. None by default: an API
    /// that did not opt in is never the target of an exchange.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_exchange: Vec<ExchangeRule>,
}

/// One application allowed to exchange tokens into an API (`valet api update AUDIENCE
/// --allow-exchange-from CLIENT_ID[=SCOPE,...]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExchangeRule {
    pub client_id: String,
    /// The API's scopes it may obtain; empty: any of them. Never more than the subject
    /// token carries, whatever this says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

impl ExchangeRule {
    /// `CLIENT_ID` or `CLIENT_ID=SCOPE,SCOPE` (the CLI's form); split at the first `=`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (client_id, scopes) = match text.split_once('=') {
            Some((id, scopes)) => (
                id,
                scopes
                    .split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            None => (text, Vec::new()),
        };
        if client_id.is_empty() {
            return Err(format!(
                "`{text}`: name an application (CLIENT_ID[=SCOPE,...])"
            ));
        }
        Ok(Self {
            client_id: client_id.to_owned(),
            scopes,
        })
    }

    pub fn allows(&self, scope: &str) -> bool {
        self.scopes.is_empty() || self.scopes.iter().any(|s| s == scope)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiScope {
    pub name: String,
    pub description: String,
}

impl Api {
    pub fn defines(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s.name == scope)
    }

    /// The exchange rule of `client_id`, if this API lets it exchange tokens into it.
    pub fn exchange_rule(&self, client_id: &str) -> Option<&ExchangeRule> {
        self.token_exchange
            .iter()
            .find(|r| r.client_id == client_id)
    }

    /// Registration rules for an API named `name`, before it is stored: the audience is an
    /// absolute ASCII URI without a fragment (RFC 8707 §2), each scope one token of RFC
    /// 6749 §3.3 that is not built in, and the name and the scope descriptions (shown on
    /// the consent page and by the CLI) printable text (issue 12, item 16).
    pub fn validate(&self, name: &str) -> Result<(), String> {
        check_uri_chars("audience", &self.audience)?;
        if self.audience.contains('#') || !self.audience.contains(':') {
            return Err(format!(
                "the audience `{}` must be an absolute URI without a fragment (RFC 8707 §2)",
                self.audience
            ));
        }
        check_printable("API name", name)?;
        if self.scopes.is_empty() {
            return Err("an API needs at least one --scope NAME=DESCRIPTION".into());
        }
        for s in &self.scopes {
            Scope::parse(&s.name).map_err(|e| e.description().to_owned())?;
            if s.name.contains(' ') || s.name.is_empty() {
                return Err(format!("scope `{}` must be one word", s.name));
            }
            if OIDC_SCOPES.contains(&s.name.as_str()) || s.name == ADMIN_SCOPE {
                return Err(format!("`{}` is a built-in scope", s.name));
            }
            check_printable(&format!("description of scope {}", s.name), &s.description)?;
        }
        for rule in &self.token_exchange {
            if let Some(s) = rule.scopes.iter().find(|s| !self.defines(s)) {
                return Err(format!(
                    "--allow-exchange-from {}={s}: the API defines no scope `{s}`",
                    rule.client_id
                ));
            }
        }
        Ok(())
    }
}

/// What a token will carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub scope: Scope,
    pub audience: Vec<String>,
}

/// `select` for a token-endpoint request: its `scope` (RFC 6749 §3.3) and repeated
/// `resource` (RFC 8707 §2) parameters, within `allowed`.
pub fn select_requested(
    params: &crate::params::Params,
    allowed: &[String],
    apis: &[Api],
    default_audience: &str,
) -> Result<Selection, OAuthError> {
    let requested = params.get("scope").map(Scope::parse).transpose()?;
    let resources: Vec<&str> = params.all("resource").collect();
    select(
        requested.as_ref(),
        &resources,
        allowed,
        apis,
        default_audience,
    )
}

/// Chooses scopes and audience for a token request.
///
/// - No `scope` → the application's allowed scopes (its defaults).
/// - A requested scope the application may not use → `invalid_scope` (RFC 6749 §5.2).
/// - `resource` values must be registered API audiences the application holds a scope
///   for → else `invalid_target` (RFC 8707 §2); the token is then limited to them.
/// - Without `resource`, `aud` is every API that defines a granted scope, or
///   `default_audience` when no API scope was granted (RFC 9068 §3 requires an `aud`).
pub fn select(
    requested: Option<&Scope>,
    resources: &[&str],
    allowed: &[String],
    apis: &[Api],
    default_audience: &str,
) -> Result<Selection, OAuthError> {
    let explicit = requested.is_some();
    let mut scope = match requested {
        Some(s) => {
            if let Some(t) = s.first_outside(allowed) {
                return Err(OAuthError::invalid_scope(format!(
                    "this application may not request the scope {t}"
                )));
            }
            s.clone()
        }
        None => Scope::from_tokens(allowed.iter().cloned()),
    };

    let owner = |t: &str| apis.iter().find(|a| a.defines(t));
    let mut audience: Vec<String> = Vec::new();

    if resources.is_empty() {
        for t in scope.iter() {
            if let Some(api) = owner(t) {
                if !audience.contains(&api.audience) {
                    audience.push(api.audience.clone());
                }
            }
        }
    } else {
        for r in resources {
            if r.contains('#') || !r.contains(':') {
                return Err(OAuthError::invalid_target(
                    "resource must be an absolute URI without a fragment",
                ));
            }
            let Some(api) = apis.iter().find(|a| a.audience == *r) else {
                return Err(OAuthError::invalid_target(format!(
                    "{r} is not a registered API"
                )));
            };
            if !allowed.iter().any(|s| api.defines(s)) {
                return Err(OAuthError::invalid_target(format!(
                    "this application holds no scope for {r}"
                )));
            }
            if !audience.contains(&api.audience) {
                audience.push(api.audience.clone());
            }
        }
        // Keep OIDC-style scopes (owned by no API) and the scopes of the selected APIs.
        let outside = scope
            .iter()
            .find(|t| owner(t).is_some_and(|a| !audience.contains(&a.audience)))
            .map(str::to_owned);
        if let Some(t) = outside {
            if explicit {
                return Err(OAuthError::invalid_scope(format!(
                    "the scope {t} belongs to an API that is not a requested resource"
                )));
            }
            scope = Scope::from_tokens(
                scope
                    .iter()
                    .filter(|t| owner(t).is_none_or(|a| audience.contains(&a.audience)))
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
            );
        }
    }

    if audience.is_empty() {
        audience.push(default_audience.to_owned());
    }
    Ok(Selection { scope, audience })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn apis() -> Vec<Api> {
        let api = |aud: &str, scopes: &[&str]| Api {
            audience: aud.into(),
            scopes: scopes
                .iter()
                .map(|s| ApiScope {
                    name: (*s).into(),
                    description: String::new(),
                })
                .collect(),
            access_token_format: Default::default(),
            introspectors: vec![],
            token_exchange: vec![],
        };
        vec![
            api(
                "https://contacts.example",
                &["contacts.read", "contacts.write"],
            ),
            api("https://mail.example", &["mail.send"]),
        ]
    }

    fn allowed() -> Vec<String> {
        vec!["contacts.read".into(), "mail.send".into()]
    }

    #[test]
    fn defaults_to_allowed_scopes_and_their_apis() {
        let s = select(None, &[], &allowed(), &apis(), "https://valet").unwrap();
        assert_eq!(s.scope.to_wire(), "contacts.read mail.send");
        assert_eq!(
            s.audience,
            ["https://contacts.example", "https://mail.example"]
        );
    }

    #[test]
    fn scope_outside_allowed_is_invalid_scope() {
        let req = Scope::parse("contacts.write").unwrap();
        let e = select(Some(&req), &[], &allowed(), &apis(), "x").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidScope);
    }

    #[test]
    fn resource_narrows_audience_and_default_scope() {
        let s = select(None, &["https://mail.example"], &allowed(), &apis(), "x").unwrap();
        assert_eq!(s.audience, ["https://mail.example"]);
        assert_eq!(s.scope.to_wire(), "mail.send");
    }

    #[test]
    fn explicit_scope_of_another_resource_is_refused() {
        let req = Scope::parse("contacts.read").unwrap();
        let e = select(
            Some(&req),
            &["https://mail.example"],
            &allowed(),
            &apis(),
            "x",
        );
        assert_eq!(e.unwrap_err().code, ErrorCode::InvalidScope);
    }

    #[test]
    fn unknown_resource_is_invalid_target() {
        for r in [
            "https://nope.example",
            "not-a-uri",
            "https://mail.example#f",
        ] {
            let e = select(None, &[r], &allowed(), &apis(), "x").unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidTarget, "{r}");
        }
    }

    #[test]
    fn no_api_scope_falls_back_to_default_audience() {
        let s = select(None, &[], &[], &apis(), "https://valet").unwrap();
        assert_eq!(s.audience, ["https://valet"]);
        assert!(s.scope.is_empty());
    }
}
