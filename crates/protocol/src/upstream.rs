//! Valet as the relying party of an upstream identity provider (issue 18): what an
//! authorization response, an ID token and the provider's claims must be before anyone is
//! signed in on their strength, and which user a verified upstream subject becomes. The
//! HTTP round trips are the server's (`server/src/upstream/`); everything here is decided
//! from inputs alone.

use serde_json::{Map, Value};

use crate::UnixTime;
use crate::text::is_forbidden_in_text;

/// How far the provider's clock may be from ours when `exp` and `iat` are read.
pub const LEEWAY: i64 = 60;

/// Longest upstream subject kept (OIDC Core §2: `sub` is at most 255 ASCII characters).
pub const MAX_SUBJECT: usize = 255;

/// Why an upstream answer was refused. The wording goes to the log (with the provider's
/// id), never into a page: the person sees only that the sign-in did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the authorization response names issuer `{0}`, not the provider's")]
    ResponseIssuer(String),
    #[error("the provider sends `iss` in authorization responses, and this one has none")]
    ResponseIssuerMissing,
    #[error("the ID token's `iss` is not the provider's issuer")]
    Issuer,
    #[error("the ID token is not for this client (`aud`)")]
    Audience,
    #[error("the ID token has several audiences and `azp` is not this client")]
    AuthorizedParty,
    #[error("the ID token has expired (`exp`)")]
    Expired,
    #[error("the ID token was issued in the future (`iat`)")]
    IssuedInFuture,
    #[error("the ID token's `nonce` is missing or is not the one sent")]
    Nonce,
    #[error("a fresh sign-in was asked for, and the ID token's `auth_time` is missing or older")]
    AuthTime,
    #[error("the provider's answer names no usable subject ({0})")]
    Subject(&'static str),
    #[error("the ID token's claims are malformed ({0})")]
    Malformed(&'static str),
    #[error("UserInfo names another subject than the ID token")]
    UserInfoSubject,
}

/// RFC 9207 §2.4: an `iss` in the authorization response must be the provider's issuer;
/// one that says it sends `iss` (`authorization_response_iss_parameter_supported`) must
/// send it. A plain OAuth provider (no issuer) has nothing to compare with.
pub fn check_response_issuer(
    issuer: Option<&str>,
    advertised: bool,
    iss: Option<&str>,
) -> Result<(), Refusal> {
    match (issuer, iss) {
        (Some(expected), Some(got)) if got != expected => {
            Err(Refusal::ResponseIssuer(got.chars().take(100).collect()))
        }
        (Some(_), None) if advertised => Err(Refusal::ResponseIssuerMissing),
        _ => Ok(()),
    }
}

/// What the ID token of this sign-in must say.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: UnixTime,
    /// The `max_age` sent (OIDC Core §3.1.2.1): then `auth_time` is required, and no older.
    pub max_age: Option<i64>,
}

/// OIDC Core §3.1.3.7 steps 2–4 and 9–11, on a token whose signature already checked out
/// against the provider's keys (steps 6–8 are the caller's): `iss` exactly the issuer,
/// `aud` naming this client (with `azp` this client when there are several audiences),
/// not expired, not issued in the future, the `nonce` sent (§3.1.2.1: Valet always
/// sends one, so a token without it is refused), and, when Valet asked for a fresh sign-in
/// (`max_age`), an `auth_time` no older than that (step 13).
pub fn check_id_token(claims: &Map<String, Value>, e: &Expected<'_>) -> Result<(), Refusal> {
    if claims.get("iss").and_then(Value::as_str) != Some(e.issuer) {
        return Err(Refusal::Issuer);
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => return Err(Refusal::Audience),
    };
    if !audiences.contains(&e.client_id) {
        return Err(Refusal::Audience);
    }
    let azp = claims.get("azp").and_then(Value::as_str);
    if (audiences.len() > 1 || azp.is_some()) && azp != Some(e.client_id) {
        return Err(Refusal::AuthorizedParty);
    }
    let exp = number(claims, "exp")?.ok_or(Refusal::Malformed("no exp"))?;
    if exp + LEEWAY <= e.now {
        return Err(Refusal::Expired);
    }
    let iat = number(claims, "iat")?.ok_or(Refusal::Malformed("no iat"))?;
    if iat > e.now + LEEWAY {
        return Err(Refusal::IssuedInFuture);
    }
    if claims.get("nonce").and_then(Value::as_str) != Some(e.nonce) {
        return Err(Refusal::Nonce);
    }
    if let Some(max_age) = e.max_age {
        match number(claims, "auth_time")? {
            Some(at) if at + max_age + LEEWAY >= e.now => {}
            _ => return Err(Refusal::AuthTime),
        }
    }
    Ok(())
}

fn number(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, Refusal> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or(Refusal::Malformed("a time claim is not a number")),
    }
}

/// OIDC Core §5.3.2: the `sub` of a UserInfo response must be the ID token's.
pub fn check_userinfo_subject(
    id_token: &Map<String, Value>,
    userinfo: &Map<String, Value>,
) -> Result<(), Refusal> {
    if userinfo.get("sub") != id_token.get("sub") {
        return Err(Refusal::UserInfoSubject);
    }
    Ok(())
}

/// Which of the provider's claims carry what Valet keeps (the `[upstreams.claims]`
/// table): names of members of the ID token or the UserInfo / user API response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub sub: String,
    pub email: String,
    pub email_verified: String,
    pub name: String,
    pub preferred_username: String,
    pub given_name: String,
    pub family_name: String,
    pub groups: Option<String>,
}

impl Default for Mapping {
    fn default() -> Self {
        Self {
            sub: "sub".into(),
            email: "email".into(),
            email_verified: "email_verified".into(),
            name: "name".into(),
            preferred_username: "preferred_username".into(),
            given_name: "given_name".into(),
            family_name: "family_name".into(),
            groups: None,
        }
    }
}

/// What the provider asserted about the person, through the mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Asserted {
    pub subject: String,
    pub email: Option<String>,
    /// Only a provider's explicit `true` (a JSON boolean, or the string "true" some
    /// providers send) counts: absent, or anything else, is unverified.
    pub email_verified: bool,
    pub name: Option<String>,
    pub preferred_username: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub groups: Vec<String>,
}

/// Reads the asserted claims. The subject is required, a string or an integer (GitHub's
/// numeric `id`), 1 to 255 characters, printable; the rest is dropped when it is not
/// printable text of a sensible length, never refused.
pub fn map_claims(mapping: &Mapping, claims: &Map<String, Value>) -> Result<Asserted, Refusal> {
    let subject = match claims.get(&mapping.sub) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(_) => return Err(Refusal::Subject("not a string")),
        None => return Err(Refusal::Subject("absent")),
    };
    if subject.is_empty() || subject.len() > MAX_SUBJECT {
        return Err(Refusal::Subject("empty or longer than 255 bytes"));
    }
    if subject
        .chars()
        .any(|c| c.is_whitespace() || is_forbidden_in_text(c))
    {
        return Err(Refusal::Subject("spaces or control characters"));
    }
    let text = |name: &str| -> Option<String> {
        let v = claims.get(name)?.as_str()?.trim();
        (!v.is_empty() && v.chars().count() <= 256 && !v.chars().any(is_forbidden_in_text))
            .then(|| v.to_owned())
    };
    let email = text(&mapping.email).filter(|e| crate::user::validate_email(e).is_ok());
    let email_verified = email.is_some()
        && match claims.get(&mapping.email_verified) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
    let groups = match mapping.groups.as_ref().and_then(|g| claims.get(g)) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .filter(|g| !g.is_empty() && g.len() <= 256 && !g.chars().any(is_forbidden_in_text))
            .take(100)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    Ok(Asserted {
        subject,
        email,
        email_verified,
        name: text(&mapping.name),
        preferred_username: text(&mapping.preferred_username),
        given_name: text(&mapping.given_name),
        family_name: text(&mapping.family_name),
        groups,
    })
}

/// RFC 8176 §2's registered `amr` values: the only ones a session takes from a provider.
const AMR_VALUES: &[&str] = &[
    "face", "fpt", "geo", "hwk", "iris", "kba", "mca", "mfa", "otp", "pin", "pwd", "rba", "retina",
    "sc", "sms", "swk", "tel", "user", "vbm", "wia",
];

/// The `amr` a session signed in through the provider records. A provider's word on how
/// the person authenticated is taken only when the operator trusts it (`trust_mfa`): then
/// its ID token's `amr`, registered values only (so `mfa` there counts as two factors and
/// no second factor of Valet's is asked for). Otherwise none: the sign-in reads as one
/// factor, and a second factor is asked for wherever one is required.
pub fn session_amr(trust_mfa: bool, id_token: &Map<String, Value>) -> Vec<String> {
    if !trust_mfa {
        return Vec::new();
    }
    let Some(Value::Array(amr)) = id_token.get("amr") else {
        return Vec::new();
    };
    let mut out: Vec<String> = amr
        .iter()
        .filter_map(Value::as_str)
        .filter(|m| AMR_VALUES.contains(m))
        .map(str::to_owned)
        .collect();
    out.dedup();
    out.truncate(8);
    out
}

/// What to ask the provider for when the application asked Valet for a fresh sign-in
/// (OIDC Core §3.1.2.1 `prompt=login`, `max_age`): the `max_age` to send along with
/// `prompt=login` (0 for `prompt=login` alone), so the provider cannot answer from an old
/// session of its own.
pub fn fresh_sign_in(prompt_login: bool, max_age: Option<i64>) -> Option<i64> {
    match (prompt_login, max_age) {
        (true, _) => Some(0),
        (false, Some(m)) => Some(m.max(0)),
        (false, None) => None,
    }
}

/// The `sub` of a user created just in time: the provider's id and its subject
/// (`corp:alice`), stable across renames at the provider.
pub fn federated_sub(upstream: &str, subject: &str) -> String {
    format!("{upstream}:{subject}")
}

/// The login name of a user created just in time: the provider's id and the name the
/// provider uses (`corp:alice`), or its subject when it names none.
pub fn federated_username(upstream: &str, asserted: &Asserted) -> String {
    let name = asserted
        .preferred_username
        .as_deref()
        .filter(|n| !n.chars().any(char::is_whitespace) && n.chars().count() <= 64)
        .unwrap_or(&asserted.subject);
    format!("{upstream}:{name}")
}

/// What the round trip was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// Signing in (the login page).
    SignIn,
    /// Linking the upstream account to the signed-in user `user_id` (the account page).
    Link { user_id: String },
}

/// A provider's rules for people it signs in (the `[[upstreams]]` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// `users = "create"`: someone the provider knows and Valet does not gets an account.
    pub create_users: bool,
    /// `link_by_verified_email = true`: a first sign-in whose address the provider
    /// verified, and which exactly one account has, signs in as that account (and links).
    pub link_by_verified_email: bool,
}

/// Which user a verified upstream subject becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The subject is linked to this user: sign in as them.
    SignInAs(String),
    /// Link the subject to this user (a link from the account page, or a first sign-in
    /// matched by a verified address), then go on as them.
    LinkTo(String),
    /// The subject is already linked to the user asking to link it.
    AlreadyLinked,
    /// Create a user for the subject, just in time, and link it.
    Create,
    Refuse(Refused),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The provider may not create users, and the subject is linked to nobody.
    NoAccount,
    /// An account has the asserted address, and this sign-in may not take it over: the
    /// person signs in to it another way and links the provider from the account page.
    EmailTaken,
    /// The subject is linked to another user.
    LinkedElsewhere,
}

/// The decision for `asserted` arriving for `purpose`: `linked` is the user the subject is
/// already linked to, `with_email` the users that have the asserted address.
///
/// An upstream sign-in never merges into an existing account by address alone: only a
/// provider allowed to (`link_by_verified_email`), asserting the address verified, and
/// exactly one account having it. Otherwise an account with the address is never
/// signed in to, nor is a second account made beside it.
pub fn decide(
    purpose: &Purpose,
    linked: Option<&str>,
    asserted: &Asserted,
    policy: Policy,
    with_email: &[String],
) -> Decision {
    match (purpose, linked) {
        (Purpose::Link { user_id }, Some(other)) if other == user_id => Decision::AlreadyLinked,
        (Purpose::Link { .. }, Some(_)) => Decision::Refuse(Refused::LinkedElsewhere),
        (Purpose::Link { user_id }, None) => Decision::LinkTo(user_id.clone()),
        (Purpose::SignIn, Some(user)) => Decision::SignInAs(user.to_owned()),
        (Purpose::SignIn, None) => match with_email {
            [one] if policy.link_by_verified_email && asserted.email_verified => {
                Decision::LinkTo(one.clone())
            }
            [] if policy.create_users => Decision::Create,
            [] => Decision::Refuse(Refused::NoAccount),
            _ => Decision::Refuse(Refused::EmailTaken),
        },
    }
}

#[cfg(test)]
#[path = "upstream_tests.rs"]
mod tests;
