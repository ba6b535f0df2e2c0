//! Redirect URIs: the registration rules for one URI, and the RFC 8252 §7.3 loopback
//! matching the authorization endpoint applies (split from `application.rs`).

use crate::application::Profile;
use crate::text::check_uri_chars;

/// Registration rules for one redirect URI (RFC 6749 §3.1.2; RFC 8252 §7; RFC 9700 §2.1,
/// §4.1.3). Matching at the authorization endpoint is exact string comparison, so the only
/// job here is to refuse URIs that are dangerous or can never match safely.
pub fn validate_redirect_uri(uri: &str, profile: Profile) -> Result<(), String> {
    // Issue 12, item 16: ASCII only (an invisible or reordering character would go raw
    // into `Location`); the messages below may then show the URI as it is.
    check_uri_chars("redirect URI", uri)?;
    let bad = |why: &str| Err(format!("redirect URI `{uri}` {why}"));
    if uri.len() > 2000 {
        return bad("is too long");
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("contains whitespace");
    }
    if uri.contains('#') {
        return bad("must not contain a fragment (RFC 6749 §3.1.2)");
    }
    if uri.contains('*') {
        return bad("must not contain a wildcard");
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return bad("is not an absolute URI");
    };
    let scheme_lc = scheme.to_ascii_lowercase();
    if scheme.is_empty()
        || !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return bad("is not an absolute URI");
    }
    if matches!(
        scheme_lc.as_str(),
        "javascript" | "data" | "vbscript" | "file"
    ) {
        return bad("uses a forbidden scheme");
    }
    if scheme_lc == "https" || scheme_lc == "http" {
        let Some(after) = rest.strip_prefix("//") else {
            return bad("is not an absolute URI");
        };
        let authority = after.split(['/', '?']).next().unwrap_or("");
        if authority.contains('@') || authority.contains('\\') {
            return bad("must not contain user information");
        }
        let host = host_of(authority);
        if host.is_empty() {
            return bad("has no host");
        }
        if scheme_lc == "http" && !is_loopback_host(host) {
            return bad("must use https unless it is a loopback address (RFC 8252 §7.3)");
        }
        return Ok(());
    }
    // A private-use scheme (RFC 8252 §7.1) is for native apps only.
    if profile == Profile::Native && scheme.contains('.') {
        return Ok(());
    }
    bad("must be https (private-use schemes such as `com.example.app:/cb` are for native apps)")
}

/// RFC 8252 §7.3: `http://127.0.0.1/cb` registered, `http://127.0.0.1:51234/cb` requested.
/// Everything but the port must be identical, and the request's port must be a TCP port
/// (1 to 65535) written canonically: `0`, `65536` or `00080` never match, so one
/// registration cannot be spelled several ways.
pub(crate) fn loopback_matches(registered: &str, requested: &str) -> bool {
    for host in ["127.0.0.1", "[::1]"] {
        let prefix = format!("http://{host}");
        let (Some(reg_rest), Some(req_rest)) = (
            registered.strip_prefix(&prefix),
            requested.strip_prefix(&prefix),
        ) else {
            continue;
        };
        // The registration names no port; the request names one, then the same rest.
        if !(reg_rest.is_empty() || reg_rest.starts_with(['/', '?'])) {
            return false;
        }
        let Some(after_colon) = req_rest.strip_prefix(':') else {
            return false;
        };
        let digits = after_colon.bytes().take_while(u8::is_ascii_digit).count();
        let port = &after_colon[..digits];
        if !is_canonical_port(port) {
            return false;
        }
        return &after_colon[digits..] == reg_rest;
    }
    false
}

/// RFC 8252 §7.3 for self-registered applications: `http://HOST[:PORT]REST` registered,
/// `http://HOST[:PORT']REST` requested, on the same loopback `HOST` (`127.0.0.1`, `[::1]`,
/// `localhost`, written identically) with the same `REST`; either port may be absent,
/// a present one must be canonical (`is_canonical_port`).
pub(crate) fn loopback_matches_any_port(registered: &str, requested: &str) -> bool {
    fn split(uri: &str) -> Option<(&str, &str)> {
        let rest = uri.strip_prefix("http://")?;
        let host = ["127.0.0.1", "[::1]", "localhost"]
            .into_iter()
            .find(|h| rest.starts_with(h))?;
        let after = &rest[host.len()..];
        let tail = match after.strip_prefix(':') {
            Some(p) => {
                let digits = p.bytes().take_while(u8::is_ascii_digit).count();
                if !is_canonical_port(&p[..digits]) {
                    return None;
                }
                &p[digits..]
            }
            None => after,
        };
        (tail.is_empty() || tail.starts_with(['/', '?'])).then_some((host, tail))
    }
    matches!((split(registered), split(requested)), (Some(a), Some(b)) if a == b)
}

/// A TCP port (1 to 65535) in decimal without leading zeros (RFC 3986 §3.2.3 allows any
/// digits; a listening port is never 0).
pub(crate) fn is_canonical_port(port: &str) -> bool {
    !port.is_empty()
        && port.len() <= 5
        && !port.starts_with('0')
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p))
}

/// `https://app.example:8443/cb?x` → `https://app.example:8443`; `None` for URIs that are
/// not http(s).
pub fn origin_of(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")) {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase()
    ))
}

pub(crate) fn host_of(authority: &str) -> &str {
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// RFC 8252 §7.3 loopback redirects; `localhost` is allowed but discouraged (§8.3).
pub fn is_loopback_host(host: &str) -> bool {
    host == "127.0.0.1" || host == "::1" || host.eq_ignore_ascii_case("localhost")
}
