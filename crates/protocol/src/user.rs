//! Users (resource owners, RFC 6749 §1.1) as OpenID Connect sees them: a stable subject
//! and the standard claims of OIDC Core §5.1.

use serde::{Deserialize, Serialize};

use crate::text::{check_printable, is_forbidden_in_text, visible};

/// Standard profile claims (OIDC Core §5.1). Absent claims are omitted, never empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub phone_number_verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Groups an upstream identity provider asserts (issue 18), released as `groups` with
    /// `profile` (a directory's groups are looked up at each use instead).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

impl UserClaims {
    /// Registration rules for the claims an admin enters (issue 12, item 16): printable
    /// text, a plausible e-mail address. Errors name the claim.
    pub fn validate(&self) -> Result<(), String> {
        for (field, value) in [
            ("name", &self.name),
            ("given_name", &self.given_name),
            ("family_name", &self.family_name),
            ("phone_number", &self.phone_number),
            ("locale", &self.locale),
        ] {
            if let Some(v) = value {
                check_printable(field, v)?;
            }
        }
        if let Some(email) = &self.email {
            validate_email(email)?;
        }
        for g in &self.groups {
            check_printable("groups", g)?;
        }
        Ok(())
    }
}

/// Registration rules for a login name: what a person types on the login page.
pub fn validate_username(username: &str) -> Result<(), String> {
    let n = username.chars().count();
    if n == 0 || n > 128 {
        return Err("a username has 1 to 128 characters".into());
    }
    if username
        .chars()
        .any(|c| c.is_whitespace() || is_forbidden_in_text(c))
    {
        return Err(format!(
            "the username `{}` may not contain spaces or control characters",
            visible(username)
        ));
    }
    Ok(())
}

/// A plausible e-mail address: one `@` with text on both sides and no whitespace.
/// Deliverability is the mail system's business, not a regular expression's.
pub fn validate_email(email: &str) -> Result<(), String> {
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && email.len() <= 254
                && !email
                    .chars()
                    .any(|c| c.is_whitespace() || is_forbidden_in_text(c)) =>
        {
            Ok(())
        }
        _ => Err(format!("`{}` is not an e-mail address", visible(email))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(validate_username("alice").is_ok());
        assert!(validate_username("alice@example.com").is_ok());
        assert!(validate_username("").is_err());
        assert!(validate_username("a b").is_err());
        assert!(validate_username(&"x".repeat(129)).is_err());
    }

    #[test]
    fn emails() {
        assert!(validate_email("a@b.example").is_ok());
        for bad in [
            "a",
            "@b",
            "a@",
            "a@b@c",
            "a b@c",
            "a@b\u{202e}",
            "a\u{1b}@b",
        ] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn claims_omit_what_is_absent() {
        let c = UserClaims {
            email: Some("a@b".into()),
            ..Default::default()
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"email": "a@b", "email_verified": false, "phone_number_verified": false})
        );
    }
}

/// What a user may do in Valet's own administration (issue 15): nothing (every ordinary
/// user), read everything (`viewer`), or change everything (`admin`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    None,
    Viewer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::None => "none",
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "none" | "" => Some(Role::None),
            "viewer" => Some(Role::Viewer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// May read the administration (every page and `GET` of the admin API).
    pub fn can_read(self) -> bool {
        self >= Role::Viewer
    }

    /// May change anything an administrator can.
    pub fn can_write(self) -> bool {
        self == Role::Admin
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
