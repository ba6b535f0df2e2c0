//! Scopes (RFC 6749 §3.3): space-delimited, case-sensitive tokens whose order does not
//! matter. Kept in first-seen order without duplicates, so responses are stable.

use crate::OAuthError;

/// The scopes OpenID Connect defines (OIDC Core §3.1.2.1, §5.4, §11), built into Valet.
pub const OIDC_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];

/// The scope of Valet's own admin API. Only a service application (client_credentials
/// alone) may hold it: a token of a user-facing application would make every user who
/// signs in to it an administrator (issue 12, item 11).
pub const ADMIN_SCOPE: &str = "valet:admin";

/// What the consent page says an OpenID Connect scope lets an application do.
pub fn oidc_scope_description(scope: &str) -> Option<&'static str> {
    Some(match scope {
        "openid" => "Know who you are (your account identifier)",
        "profile" => "See your name and profile details",
        "email" => "See your e-mail address",
        "address" => "See your postal address",
        "phone" => "See your phone number",
        "offline_access" => "Keep access while you are not using it",
        _ => return None,
    })
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Scope(Vec<String>);

impl From<Scope> for String {
    fn from(s: Scope) -> String {
        s.to_wire()
    }
}

impl TryFrom<String> for Scope {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Scope::parse(&s).map_err(|e| e.description().to_owned())
    }
}

/// Longest `scope` value accepted.
const MAX_SCOPE_LEN: usize = 2048;

impl Scope {
    /// Parses a `scope` parameter. Each token must be `1*( %x21 / %x23-5B / %x5D-7E )`.
    pub fn parse(raw: &str) -> Result<Self, OAuthError> {
        if raw.len() > MAX_SCOPE_LEN {
            return Err(OAuthError::invalid_scope("the scope parameter is too long"));
        }
        let mut tokens: Vec<String> = Vec::new();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            if !token
                .chars()
                .all(|c| matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
            {
                return Err(OAuthError::invalid_scope(
                    "a scope may only contain printable ASCII other than quote and backslash",
                ));
            }
            if !tokens.iter().any(|t| t == token) {
                tokens.push(token.to_owned());
            }
        }
        Ok(Self(tokens))
    }

    pub fn from_tokens<I: IntoIterator<Item = S>, S: Into<String>>(tokens: I) -> Self {
        let mut out: Vec<String> = Vec::new();
        for t in tokens {
            let t = t.into();
            if !out.contains(&t) {
                out.push(t);
            }
        }
        Self(out)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The first token not in `allowed`, if any.
    pub fn first_outside<'a>(&'a self, allowed: &[String]) -> Option<&'a str> {
        self.iter().find(|t| !allowed.iter().any(|a| a == t))
    }

    /// True when every token of `self` is in `other`.
    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.iter().all(|t| other.contains(t))
    }

    /// The tokens of `self` followed by those of `other` not already in it.
    pub fn union(&self, other: &Scope) -> Scope {
        Scope::from_tokens(self.iter().chain(other.iter()).map(str::to_owned))
    }

    /// The space-delimited form used on the wire.
    pub fn to_wire(&self) -> String {
        self.0.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_dedupes_in_order() {
        let s = Scope::parse("b a  b").unwrap();
        assert_eq!(s.to_wire(), "b a");
    }

    #[test]
    fn rejects_forbidden_characters() {
        assert!(Scope::parse("a\"b").is_err());
        assert!(Scope::parse("a\\b").is_err());
        assert!(Scope::parse("caf\u{e9}").is_err());
        assert!(Scope::parse("api:read contacts.write").is_ok());
    }

    #[test]
    fn first_outside_finds_unlisted_tokens() {
        let s = Scope::parse("a b c").unwrap();
        assert_eq!(s.first_outside(&["a".into(), "b".into()]), Some("c"));
        assert_eq!(s.first_outside(&["a".into(), "b".into(), "c".into()]), None);
    }
}
