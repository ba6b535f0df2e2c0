//! Authorization responses (RFC 6749 §4.1.2, §4.2.2; OAuth 2.0 Multiple Response Type
//! Encoding Practices §2; Form Post Response Mode §2): where the parameters go. `iss` is
//! in every response, success or error (RFC 9207 §2, checklist A12).

use crate::authorize::{Redirected, ResponseMode};

/// How the browser is sent back to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A 303 to this URL (query or fragment).
    Redirect(String),
    /// An auto-submitting HTML form posting `params` to `redirect_uri`.
    FormPost {
        redirect_uri: String,
        params: Vec<(String, String)>,
    },
}

/// Builds the response: `params` (without `state` and `iss`, which are added here).
pub fn deliver(
    redirect_uri: &str,
    mode: ResponseMode,
    state: Option<&str>,
    issuer: &str,
    mut params: Vec<(String, String)>,
) -> Delivery {
    if let Some(s) = state {
        params.push(("state".into(), s.to_owned()));
    }
    params.push(("iss".into(), issuer.to_owned()));
    match mode {
        ResponseMode::FormPost => Delivery::FormPost {
            redirect_uri: redirect_uri.to_owned(),
            params,
        },
        ResponseMode::Query => {
            // RFC 6749 §3.1.2: keep the registered URI's own query and add to it.
            let sep = if redirect_uri.contains('?') { '&' } else { '?' };
            Delivery::Redirect(format!("{redirect_uri}{sep}{}", encode(&params)))
        }
        ResponseMode::Fragment => Delivery::Redirect(format!("{redirect_uri}#{}", encode(&params))),
    }
}

/// An error response for a verified client and redirect URI (RFC 6749 §4.1.2.1).
pub fn deliver_error(e: &Redirected, issuer: &str) -> Delivery {
    let params = vec![
        ("error".to_owned(), e.error.code.as_str().to_owned()),
        (
            "error_description".to_owned(),
            e.error.description().to_owned(),
        ),
    ];
    deliver(&e.redirect_uri, e.mode, e.state.as_deref(), issuer, params)
}

/// `application/x-www-form-urlencoded` serialization (the WHATWG rules, as browsers and
/// OAuth libraries decode it).
pub fn encode(params: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        component(k, &mut out);
        out.push('=');
        component(v, &mut out);
    }
    out
}

fn component(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OAuthError;
    use crate::params::Params;

    #[test]
    fn query_keeps_the_registered_query_and_round_trips_state() {
        let state = "a+b/c=d%e &\u{e9}";
        let d = deliver(
            "https://app.example/cb?tenant=1",
            ResponseMode::Query,
            Some(state),
            "https://valet.example",
            vec![("code".into(), "xyz".into())],
        );
        let Delivery::Redirect(url) = d else {
            panic!("redirect expected")
        };
        let (base, query) = url.split_once('?').unwrap();
        assert_eq!(base, "https://app.example/cb");
        let p = Params::parse_lenient(query.as_bytes()).unwrap();
        assert_eq!(p.get("tenant"), Some("1"));
        assert_eq!(p.get("code"), Some("xyz"));
        assert_eq!(p.get("state"), Some(state));
        assert_eq!(p.get("iss"), Some("https://valet.example"));
    }

    #[test]
    fn fragment_and_errors() {
        let e = Redirected {
            redirect_uri: "https://app.example/cb".into(),
            mode: ResponseMode::Fragment,
            state: None,
            error: OAuthError::new(crate::ErrorCode::AccessDenied, "the user said no"),
        };
        let Delivery::Redirect(url) = deliver_error(&e, "https://v") else {
            panic!("redirect expected")
        };
        assert!(url.starts_with("https://app.example/cb#error=access_denied&"));
        assert!(!url.contains('?'), "nothing in the query (checklist I5)");
        assert!(!url.contains("state="));
    }
}
