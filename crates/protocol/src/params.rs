//! Form parameters of an OAuth request (`application/x-www-form-urlencoded`, RFC 6749 §3.1,
//! §3.2, Appendix B). Duplicates are refused, empty values count as absent, and input that
//! is not UTF-8 is an `invalid_request` rather than something silently replaced.

use crate::OAuthError;

/// Most parameters a request may carry; a real client sends fewer than 20.
const MAX_PARAMS: usize = 64;
/// Longest value accepted for any one parameter (the body itself is capped by the server).
const MAX_VALUE_LEN: usize = 16 * 1024;

/// Parsed form parameters, in the order they were sent.
#[derive(Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses a form body. Names listed in `repeatable` (such as RFC 8707 `resource`) may
    /// appear more than once; any other name twice is `invalid_request` (RFC 6749 §3.1:
    /// "MUST NOT be included more than once").
    pub fn parse(body: &[u8], repeatable: &[&str]) -> Result<Self, OAuthError> {
        let params = Self::parse_lenient(body)?;
        // RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they
        // were omitted from the request." Empty values are kept so that rules which
        // must tell "empty" from "absent" (an empty client_secret) still can.
        if let Some(name) = params.first_repeated(repeatable) {
            return Err(OAuthError::invalid_request(format!(
                "the {name} parameter must not be provided more than once"
            )));
        }
        Ok(params)
    }

    /// Parses the parameters of an authorization request (a query string or a form body)
    /// without refusing duplicates: at the authorization endpoint a repeated `client_id`
    /// or `redirect_uri` must show an error page while other repeats are redirected
    /// (checklist B2), so the caller asks `repeated` at the right step.
    pub fn parse_lenient(raw: &[u8]) -> Result<Self, OAuthError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for piece in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            if pairs.len() == MAX_PARAMS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            let (name, value) = match piece.iter().position(|b| *b == b'=') {
                Some(i) => (&piece[..i], &piece[i + 1..]),
                None => (piece, &b""[..]),
            };
            let name = decode(name)?;
            let value = decode(value)?;
            if value.len() > MAX_VALUE_LEN {
                return Err(OAuthError::invalid_request(format!(
                    "the {name} parameter is too long"
                )));
            }
            pairs.push((name, value));
        }
        Ok(Self { pairs })
    }

    /// Parameters that did not come from a form: a request object's claims (RFC 9101) or
    /// a pushed request read back (RFC 9126), under the same limits as a form.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, OAuthError> {
        if pairs.len() > MAX_PARAMS {
            return Err(OAuthError::invalid_request("too many parameters"));
        }
        if let Some((name, _)) = pairs.iter().find(|(_, v)| v.len() > MAX_VALUE_LEN) {
            return Err(OAuthError::invalid_request(format!(
                "the {name} parameter is too long"
            )));
        }
        Ok(Self { pairs })
    }

    /// Every parameter in the order sent, empty ones included.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// True when the parameter carries more than one non-empty value.
    pub fn repeated(&self, name: &str) -> bool {
        self.all(name).nth(1).is_some()
    }

    /// The first parameter (other than `except`) that carries more than one value.
    pub fn first_repeated(&self, except: &[&str]) -> Option<&str> {
        self.pairs
            .iter()
            .map(|(n, _)| n.as_str())
            .find(|n| !except.contains(n) && self.repeated(n))
    }

    /// The value of a parameter; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every non-empty value of a repeatable parameter.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// True when the parameter was sent with an empty value and never with a real one.
    pub fn is_empty_value(&self, name: &str) -> bool {
        self.get(name).is_none() && self.pairs.iter().any(|(n, _)| n == name)
    }

    /// True when the parameter was sent at all, empty or not.
    pub fn contains(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }
}

/// `application/x-www-form-urlencoded` decoding of one name or value: `+` is a space,
/// `%XX` a byte, and the bytes must form UTF-8.
pub fn decode(raw: &[u8]) -> Result<String, OAuthError> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    let bytes: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
    String::from_utf8(bytes).map_err(|_| OAuthError::invalid_request("parameters must be UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn decodes_plus_and_percent() {
        let p = Params::parse(b"a=x+y%2Bz&b=%E2%9C%93", &[]).unwrap();
        assert_eq!(p.get("a"), Some("x y+z"));
        assert_eq!(p.get("b"), Some("\u{2713}"));
    }

    #[test]
    fn duplicates_are_invalid_request_unless_repeatable() {
        let e = Params::parse(b"grant_type=a&grant_type=a", &[])
            .err()
            .unwrap();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.description().contains("grant_type"));
        let p = Params::parse(b"resource=a&resource=b", &["resource"]).unwrap();
        assert_eq!(p.all("resource").collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn empty_values_are_absent() {
        let p = Params::parse(b"scope=&scope=x&state=", &[]).unwrap();
        assert_eq!(p.get("scope"), Some("x"));
        assert_eq!(p.get("state"), None);
        assert!(p.is_empty_value("state"));
        assert!(!p.is_empty_value("scope"));
        assert!(!p.is_empty_value("nonce"));
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert!(Params::parse(b"a=%FF%FE", &[]).is_err());
    }

    #[test]
    fn too_many_or_too_long_is_refused() {
        let many: Vec<String> = (0..100).map(|i| format!("p{i}=1")).collect();
        assert!(Params::parse(many.join("&").as_bytes(), &[]).is_err());
        let long = format!("a={}", "x".repeat(MAX_VALUE_LEN + 1));
        assert!(Params::parse(long.as_bytes(), &[]).is_err());
    }
}
