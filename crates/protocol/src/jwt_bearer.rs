//! The JWT bearer grant (RFC 7523 §2.1): an application presents a JWT that a *trusted
//! issuer* (an enterprise identity provider, `[[trusted_issuers]]`) signed about one of
//! its users, and gets an access token for that user. This is the shape of the MCP
//! enterprise-managed authorization draft's Identity Assertion JWT Authorization Grant
//! (ID-JAG, `typ` `oauth-id-jag+jwt`): the provider decided, by its own policy, that the
//! application may act for the user at this server; Valet checks the JWT (§3) and its own
//! policy for the issuer (which APIs, which scopes, which applications).
//!
//! The server finds the issuer by `iss`, verifies the signature with the issuer's keys,
//! then calls [`check`] (RFC 7523 §3 items 1–7), [`select`] (scopes and audience), maps the
//! user, and uses the `jti` once. Every failure of the assertion is `invalid_grant`
//! (§3.1); a scope or target outside the policy is `invalid_scope` / `invalid_target`.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::OAuthError;
use crate::UnixTime;
use crate::application::{Application, GrantType};
use crate::audience::{self, Api, Selection};
use crate::client_assertion::{self, Audience, EXP_LEEWAY};
use crate::params::Params;
use crate::scope::Scope;
use crate::token::{Authentication, Issuance, Refresh};

/// RFC 7523 §2.1 `grant_type`.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The ID-JAG `typ` (MCP enterprise-managed authorization; OAuth Identity Assertion
/// Authorization Grant draft §3).
pub const ID_JAG_TYP: &str = "oauth-id-jag+jwt";
/// Longest `jti` remembered.
const MAX_JTI_LEN: usize = 256;

/// What Valet lets one trusted issuer's assertions yield.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerPolicy {
    pub issuer: String,
    /// The API audiences its assertions may yield tokens for.
    pub audiences: Vec<String>,
    /// The most a token from its assertion may carry.
    pub scopes: Vec<String>,
    /// The applications that may present its assertions; empty: any allowed the grant.
    pub clients: Vec<String>,
}

/// The claims of an assertion (RFC 7523 §3; ID-JAG adds `client_id`, `resource`, `scope`).
#[derive(Debug, Deserialize)]
pub struct BearerClaims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub aud: Option<Audience>,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    pub jti: Option<String>,
    /// ID-JAG: the application the assertion was issued to.
    pub client_id: Option<String>,
    pub scope: Option<String>,
    pub resource: Option<Audience>,
    pub auth_time: Option<i64>,
    /// Every other claim, for the one that names the user (`email`, …).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl BearerClaims {
    /// The value of `claim` (`sub` or any string claim) naming the user.
    pub fn user_claim(&self, claim: &str) -> Option<&str> {
        let v = if claim == "sub" {
            self.sub.as_deref()
        } else {
            self.other.get(claim).and_then(Value::as_str)
        };
        v.filter(|v| !v.is_empty())
    }
}

/// The issuer of an assertion, read before its signature is checked: which issuer's keys
/// to verify it with (nothing else is taken from an unverified payload).
pub fn claimed_issuer(payload: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    serde_json::from_slice::<Iss>(payload)
        .ok()?
        .iss
        .filter(|s| !s.is_empty())
}

/// A JOSE `typ` another kind of JWT carries is refused (RFC 8725 §3.11): an access token,
/// a DPoP proof or a logout token is never an authorization grant.
pub fn typ_acceptable(typ: Option<&str>) -> bool {
    !typ.is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        let t = t.strip_prefix("application/").unwrap_or(&t);
        matches!(t, "at+jwt" | "dpop+jwt" | "logout+jwt" | "secevent+jwt")
    })
}

/// What the assertion must match.
pub struct Expected<'a> {
    /// Valet's issuer identifier and its token endpoint: the `aud` names one (§3 item 3).
    pub issuer: &'a str,
    pub token_endpoint: &'a str,
    /// The authenticated application presenting it.
    pub client_id: &'a str,
    pub now: UnixTime,
}

/// A checked assertion: its `jti` must now be used once, until `until`.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    pub jti: String,
    pub until: UnixTime,
}

/// RFC 7523 §3 items 1–7 for a signature-verified assertion of `policy`'s issuer, and the
/// issuer's policy on who may present it.
pub fn check(
    claims: &BearerClaims,
    policy: &IssuerPolicy,
    want: &Expected<'_>,
) -> Result<Accepted, OAuthError> {
    let fail = |why: String| Err(OAuthError::invalid_grant(why));
    // Item 1: the issuer.
    if claims.iss.as_deref() != Some(policy.issuer.as_str()) {
        return fail("the assertion's iss is not a trusted issuer".into());
    }
    // Item 2: a subject.
    if claims.sub.as_deref().is_none_or(str::is_empty) {
        return fail("the assertion has no sub".into());
    }
    // Item 3: meant for this server.
    let ours = |a: &str| a == want.issuer || a == want.token_endpoint;
    let audience_ok = match &claims.aud {
        Some(Audience::One(a)) => ours(a),
        Some(Audience::Many(all)) => all.iter().any(|a| ours(a)),
        None => false,
    };
    if !audience_ok {
        return fail(format!(
            "the assertion's aud must name this server: its issuer `{}` or its token endpoint",
            want.issuer
        ));
    }
    // Items 4–6, as for client assertions.
    let exp = match client_assertion::times(claims.exp, claims.nbf, claims.iat, want.now) {
        Ok(exp) => exp,
        Err(why) => return fail(why),
    };
    // Item 7: Valet takes each assertion once, so it needs a `jti`.
    let Some(jti) = claims.jti.as_deref().filter(|j| !j.is_empty()) else {
        return fail("the assertion has no jti: Valet redeems each assertion once".into());
    };
    if jti.len() > MAX_JTI_LEN {
        return fail("the assertion's jti is too long".into());
    }
    // ID-JAG: an assertion issued to one application is not another's to redeem.
    if claims
        .client_id
        .as_deref()
        .is_some_and(|c| c != want.client_id)
    {
        return fail("the assertion was issued to another application (client_id)".into());
    }
    if !policy.clients.is_empty() && !policy.clients.iter().any(|c| c == want.client_id) {
        return Err(OAuthError::unauthorized_client(
            "this application may not present assertions of this issuer",
        ));
    }
    Ok(Accepted {
        jti: jti.to_owned(),
        until: exp.max(want.now) + EXP_LEEWAY,
    })
}

/// The token's scope and audience: what the request asks (`scope`, `resource`), else what
/// the assertion says (`scope`, `resource`), else all the policy allows — always within
/// the policy's scopes, the assertion's `scope` when it has one, and the policy's
/// audiences (RFC 8707 §2 `invalid_target` outside them).
pub fn select(
    params: &Params,
    claims: &BearerClaims,
    policy: &IssuerPolicy,
    apis: &[Api],
    default_audience: &str,
) -> Result<Selection, OAuthError> {
    let asserted = claims.scope.as_deref().map(Scope::parse).transpose()?;
    let allowed: Vec<String> = policy
        .scopes
        .iter()
        .filter(|s| asserted.as_ref().is_none_or(|a| a.contains(s)))
        .cloned()
        .collect();
    let requested = match params.get("scope") {
        Some(s) => Some(Scope::parse(s)?),
        None => asserted,
    };
    let mut resources: Vec<&str> = params.all("resource").collect();
    if resources.is_empty() {
        resources = match &claims.resource {
            Some(Audience::One(r)) => vec![r.as_str()],
            Some(Audience::Many(rs)) => rs.iter().map(String::as_str).collect(),
            None => vec![],
        };
    }
    for r in &resources {
        if !policy.audiences.iter().any(|a| a == r) {
            return Err(OAuthError::invalid_target(format!(
                "assertions of {} do not yield tokens for {}",
                policy.issuer,
                r.chars().take(200).collect::<String>()
            )));
        }
    }
    let selection = audience::select(
        requested.as_ref(),
        &resources,
        &allowed,
        apis,
        default_audience,
    )
    .map_err(|e| match e.code {
        crate::ErrorCode::InvalidScope => OAuthError::invalid_scope(format!(
            "{} (within what the trusted issuer's policy and the assertion allow)",
            e.description()
        )),
        _ => e,
    })?;
    if let Some(a) = selection
        .audience
        .iter()
        .find(|a| !policy.audiences.contains(a))
    {
        return Err(OAuthError::invalid_target(format!(
            "assertions of {} do not yield tokens for {a}",
            policy.issuer
        )));
    }
    if selection.scope.is_empty() {
        return Err(OAuthError::invalid_scope(
            "the assertion yields no scope this server may grant",
        ));
    }
    Ok(selection)
}

/// Only a confidential application allowed the grant presents assertions: an assertion
/// is a bearer credential, and its holder must prove it is the one it was meant for
/// (RFC 7521 §5.2 leaves client authentication to the server; Valet requires it).
pub fn permitted(app: &Application) -> Result<(), OAuthError> {
    if app.is_confidential() && app.allows_grant(GrantType::JwtBearer) {
        Ok(())
    } else {
        Err(OAuthError::unauthorized_client(
            "this application may not use the JWT bearer grant",
        ))
    }
}

/// The tokens an accepted assertion yields: one access token for the mapped user. No
/// refresh token (the application asks its identity provider for a new assertion, so the
/// provider stays in charge of the access) and no ID token
/// (nobody signed in here).
pub fn issuance(
    app: &Application,
    user_id: &str,
    grant_id: &str,
    claims: &BearerClaims,
    selection: Selection,
    now: UnixTime,
) -> Issuance {
    let time = claims.auth_time.filter(|t| *t <= now).unwrap_or(now);
    let mut issuance = Issuance::for_user(
        app,
        user_id,
        grant_id,
        Authentication::new(time, &[]),
        selection,
        None,
    );
    issuance.id_token = None;
    issuance.refresh = Refresh::None;
    issuance
}

#[cfg(test)]
#[path = "jwt_bearer_tests.rs"]
mod tests;
