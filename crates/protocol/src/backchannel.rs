//! OpenID Connect Back-Channel Logout 1.0: the logout token an application's
//! `backchannel_logout_uri` receives when a user's session with Valet ends, and which
//! URIs may receive one.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::UnixTime;
use crate::text::check_uri_chars;

/// §2.4: the one event a logout token carries.
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// §2.4: the `typ` header explicitly typing a logout token (RFC 8725 §3.11), so it can
/// never pass for an ID token.
pub const TYP: &str = "logout+jwt";

/// A logout token lives this long: enough for the POST it travels in (§2.4 recommends
/// a short `exp`; each delivery attempt signs a fresh one).
pub const LIFETIME: i64 = 120;

/// §2.4: `iss`, `aud`, `iat`, `exp`, `jti`, `events`, and `sub` and/or `sid`; never a
/// `nonce` (§2.6 step 5: a receiver refuses one, so it cannot pass for an ID token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogoutTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: UnixTime,
    pub exp: UnixTime,
    pub jti: String,
    pub events: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl LogoutTokenClaims {
    pub fn new(
        issuer: &str,
        client_id: &str,
        sub: &str,
        sid: Option<String>,
        now: UnixTime,
        jti: String,
    ) -> Self {
        let mut events = Map::new();
        events.insert(EVENT.to_owned(), Value::Object(Map::new()));
        Self {
            iss: issuer.to_owned(),
            sub: sub.to_owned(),
            aud: client_id.to_owned(),
            iat: now,
            exp: now + LIFETIME,
            jti,
            events,
            sid,
        }
    }
}

/// §2.2: an absolute https URI without a fragment (it may carry a query). A web
/// application in development may use a plain http loopback URI (`http://127.0.0.1:…`,
/// `http://localhost:…`, `http://[::1]:…`), as its redirect URIs may.
pub fn validate_uri(uri: &str) -> Result<(), String> {
    check_uri_chars("backchannel_logout_uri", uri)?;
    let bad = |why: &str| Err(format!("backchannel_logout_uri `{uri}` {why}"));
    if uri.len() > 2000 {
        return bad("is longer than 2000 characters");
    }
    if uri.contains('#') {
        return bad("must not have a fragment (OIDC Back-Channel Logout §2.2)");
    }
    let rest = if let Some(r) = uri.strip_prefix("https://") {
        r
    } else if let Some(r) = uri.strip_prefix("http://") {
        let host = r.split(['/', '?']).next().unwrap_or("");
        let name = match host.rsplit_once(':') {
            Some((h, port)) if !h.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        if !matches!(name, "127.0.0.1" | "localhost" | "[::1]") {
            return bad("must be https (plain http only for a loopback address in development)");
        }
        r
    } else {
        return bad("must be an https URL");
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return bad("needs a host and no user information");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_logout_token_has_the_claims_of_section_2_4_and_no_nonce() {
        let t = LogoutTokenClaims::new(
            "https://id.example",
            "app",
            "u1",
            Some("s1".into()),
            100,
            "j".into(),
        );
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["iss"], "https://id.example");
        assert_eq!(v["aud"], "app");
        assert_eq!(v["sub"], "u1");
        assert_eq!(v["sid"], "s1");
        assert_eq!(v["iat"], 100);
        assert_eq!(v["exp"], 100 + LIFETIME);
        assert_eq!(v["events"], serde_json::json!({ EVENT: {} }));
        assert!(v.get("nonce").is_none());
        let without = LogoutTokenClaims::new("i", "a", "u", None, 1, "j".into());
        assert!(serde_json::to_value(&without).unwrap().get("sid").is_none());
    }

    #[test]
    fn backchannel_uris_are_https_or_loopback_http() {
        for ok in [
            "https://app.example/logout",
            "https://app.example:8443/bc?tenant=1",
            "http://127.0.0.1:9000/logout",
            "http://localhost/logout",
            "http://[::1]:8080/bc",
        ] {
            assert!(validate_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example/logout",
            "https://app.example/logout#frag",
            "ftp://app.example/",
            "https:///nohost",
            "https://user@app.example/",
            "/relative",
            "http://127.0.0.1.evil.example/",
            "https://app.example/\u{202e}",
        ] {
            assert!(validate_uri(bad).is_err(), "{bad}");
        }
    }
}
