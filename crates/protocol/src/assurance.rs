//! High-assurance settings of an application (issue 19): the keys it authenticates and
//! signs request objects with (RFC 7591 §2 `jwks`, `jwks_uri`; RFC 7523), whether it must
//! push its authorization requests (RFC 9126 §6) and bind its tokens to a DPoP key
//! (RFC 9449 §5.2), the algorithm of its ID tokens (OIDC Registration §2
//! `id_token_signed_response_alg`), its subject type (OIDC Core §8), and the rules of the
//! FAPI 2.0 Security Profile for an application of profile `fapi2`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::application::{Application, AuthMethod, GrantType, Profile};
use crate::text::check_uri_chars;

/// Most keys an application may register; a JWK Set is small.
pub const MAX_KEYS: usize = 16;
/// Longest registered JWK Set, as JSON.
pub const MAX_JWKS_BYTES: usize = 16 * 1024;

/// The algorithms Valet signs ID tokens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 SHA-256: the default, which OIDC Core §15.1 requires.
    #[default]
    RS256,
    /// RSASSA-PSS SHA-256.
    PS256,
    /// ECDSA P-256 SHA-256.
    ES256,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl SigningAlg {
    pub const ALL: [Self; 4] = [Self::RS256, Self::PS256, Self::ES256, Self::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// FAPI 2.0 Security Profile §5.4.1: PS256, ES256 or EdDSA; never RS256.
    pub fn fapi2_allows(self) -> bool {
        self != Self::RS256
    }
}

impl FromStr for SigningAlg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "the signing algorithm `{s}` is not supported (RS256, PS256, ES256 or EdDSA)"
                )
            })
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// OIDC Core §8: the `sub` an application sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SubjectType {
    /// The same `sub` for every application.
    #[default]
    Public,
    /// A `sub` of its own per sector identifier (§8.1), so applications cannot correlate
    /// their users.
    Pairwise,
}

impl FromStr for SubjectType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "public" => Ok(Self::Public),
            "pairwise" => Ok(Self::Pairwise),
            other => Err(format!(
                "the subject type `{other}` is not supported (public or pairwise)"
            )),
        }
    }
}

impl fmt::Display for SubjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Public => "public",
            Self::Pairwise => "pairwise",
        })
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// An application's high-assurance settings, kept in its registration. Registrations
/// stored before these existed read as all defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Assurance {
    /// RFC 7591 §2 `jwks`: the application's public keys (a JWK Set), by value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub jwks: Option<serde_json::Value>,
    /// RFC 7591 §2 `jwks_uri`: where the application publishes them (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// RFC 9126 §6 `require_pushed_authorization_requests`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_par: bool,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request carries a DPoP proof.
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_dpop: bool,
    /// OIDC Registration §2 `id_token_signed_response_alg`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub id_token_alg: SigningAlg,
    /// OIDC Core §8.
    #[serde(default, skip_serializing_if = "is_default")]
    pub subject_type: SubjectType,
}

impl Application {
    /// FAPI 2.0 Security Profile: the whole profile, one switch.
    pub fn is_fapi2(&self) -> bool {
        self.profile == Profile::Fapi2
    }

    /// RFC 9126 §6: authorization requests only through the PAR endpoint (FAPI 2.0
    /// §5.3.1.2 item 1 for `fapi2`).
    pub fn requires_par(&self) -> bool {
        self.assurance.require_par || self.is_fapi2()
    }

    /// RFC 9449 §5.2: token requests must carry a DPoP proof (FAPI 2.0 §5.3.2.2: sender-
    /// constrained tokens; Valet constrains them with DPoP).
    pub fn requires_dpop(&self) -> bool {
        self.assurance.require_dpop || self.is_fapi2()
    }

    /// Whether the application authenticates with a secret (a confidential one that does
    /// not use its keys instead).
    pub fn has_secret(&self) -> bool {
        self.is_confidential() && self.token_endpoint_auth_method != AuthMethod::PrivateKeyJwt
    }

    /// Whether the application registered keys of its own.
    pub fn has_keys(&self) -> bool {
        self.assurance.jwks.is_some() || self.assurance.jwks_uri.is_some()
    }

    /// OIDC Core §8.1: the sector identifier of a pairwise application is the host of its
    /// redirect URIs (one host: registration makes sure of it).
    pub fn sector_identifier(&self) -> Option<&str> {
        self.redirect_uris.first().and_then(|u| host_of_uri(u))
    }

    /// The registration rules of the settings above.
    pub(crate) fn validate_assurance(&self) -> Result<(), (&'static str, String)> {
        let a = &self.assurance;
        if a.jwks.is_some() && a.jwks_uri.is_some() {
            return Err((
                "jwks",
                "register the keys either by value (--jwks-file) or by reference \
                 (--jwks-uri), not both (RFC 7591 §2)"
                    .into(),
            ));
        }
        if self.token_endpoint_auth_method == AuthMethod::PrivateKeyJwt && !self.has_keys() {
            return Err((
                "jwks",
                "private_key_jwt needs the application's public keys: --jwks-file FILE or \
                 --jwks-uri URL"
                    .into(),
            ));
        }
        if let Some(jwks) = &a.jwks {
            check_jwks(jwks).map_err(|m| ("jwks", m))?;
        }
        if let Some(uri) = &a.jwks_uri {
            check_uri_chars("jwks_uri", uri).map_err(|m| ("jwks_uri", m))?;
            if !uri.starts_with("https://") || uri.len() > 2000 || host_of_uri(uri).is_none() {
                return Err((
                    "jwks_uri",
                    format!("the jwks_uri `{uri}` must be an https URL"),
                ));
            }
        }
        if a.subject_type == SubjectType::Pairwise {
            if !self.profile.needs_redirect_uri() {
                return Err((
                    "subject_type",
                    format!(
                        "a {} application has no redirect URI to take a sector identifier \
                         from (OIDC Core §8.1); pairwise subjects are for applications that \
                         sign users in through a browser",
                        self.profile
                    ),
                ));
            }
            let hosts: Vec<&str> = self
                .redirect_uris
                .iter()
                .filter_map(|u| host_of_uri(u))
                .collect();
            if hosts.len() != self.redirect_uris.len() || hosts.windows(2).any(|w| w[0] != w[1]) {
                return Err((
                    "subject_type",
                    "pairwise subjects need every redirect URI on one host, its sector \
                     identifier (OIDC Core §8.1; a sector_identifier_uri is not supported)"
                        .into(),
                ));
            }
        }
        if self.is_fapi2() {
            self.validate_fapi2()?;
        }
        Ok(())
    }

    /// FAPI 2.0 Security Profile §5.3.1, §5.3.2, §5.4: what a `fapi2` application is.
    fn validate_fapi2(&self) -> Result<(), (&'static str, String)> {
        if self.token_endpoint_auth_method != AuthMethod::PrivateKeyJwt {
            return Err((
                "token_endpoint_auth_method",
                "a fapi2 application authenticates with private_key_jwt (FAPI 2.0 §5.3.2.1; \
                 Valet does not offer mTLS): --auth-method private_key_jwt and --jwks-file or \
                 --jwks-uri"
                    .into(),
            ));
        }
        if let Some(uri) = self
            .redirect_uris
            .iter()
            .find(|u| !u.starts_with("https://"))
        {
            return Err((
                "redirect_uris",
                format!(
                    "a fapi2 application's redirect URIs are https (FAPI 2.0 §5.3.1.2 item 6): \
                     `{uri}` is not"
                ),
            ));
        }
        if let Some(g) = self
            .grant_types
            .iter()
            .find(|g| !matches!(g, GrantType::AuthorizationCode | GrantType::RefreshToken))
        {
            return Err((
                "grant_types",
                format!(
                    "a fapi2 application uses the authorization code flow (and refresh tokens) \
                     only, not {g} (FAPI 2.0 §5.3.1.1)"
                ),
            ));
        }
        if !self.assurance.id_token_alg.fapi2_allows() {
            return Err((
                "id_token_signed_response_alg",
                "a fapi2 application's ID tokens are signed with PS256, ES256 or EdDSA \
                 (FAPI 2.0 §5.4.1): --id-token-alg PS256"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// RFC 7591 §2, RFC 7517 §5: a JWK Set of public keys, bounded.
fn check_jwks(jwks: &serde_json::Value) -> Result<(), String> {
    let size = serde_json::to_vec(jwks).map_or(usize::MAX, |v| v.len());
    if size > MAX_JWKS_BYTES {
        return Err(format!(
            "the JWK Set is larger than {} KiB",
            MAX_JWKS_BYTES / 1024
        ));
    }
    let Some(keys) = jwks.get("keys").and_then(|k| k.as_array()) else {
        return Err(r#"the JWK Set must be a JSON object {"keys": [...]} (RFC 7517 §5)"#.into());
    };
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(format!("the JWK Set must hold 1 to {MAX_KEYS} keys"));
    }
    for key in keys {
        let Some(obj) = key.as_object() else {
            return Err("every key of the JWK Set must be a JSON object".into());
        };
        match obj.get("kty").and_then(|k| k.as_str()) {
            Some("RSA" | "EC" | "OKP") => {}
            Some("oct") => {
                return Err(
                    "a symmetric (oct) key is a shared secret: register public keys only".into(),
                );
            }
            _ => return Err("every key needs a kty of RSA, EC or OKP".into()),
        }
        if ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
            .iter()
            .any(|m| obj.contains_key(*m))
        {
            return Err(
                "the JWK Set holds a private key: register only the public keys (keep the \
                 private key with the application)"
                    .into(),
            );
        }
    }
    Ok(())
}

/// The host of an http(s) URI, lower case as registration keeps it.
fn host_of_uri(uri: &str) -> Option<&str> {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = crate::redirect_uri::host_of(authority);
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
#[path = "assurance_tests.rs"]
mod tests;
