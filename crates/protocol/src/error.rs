//! The OAuth 2.0 error vocabulary (RFC 6749 §4.1.2.1, §5.2; RFC 7009 §2.2.1; RFC 8707 §2)
//! and the HTTP status each error carries. Turning an error into a response happens in one
//! place, `valet-server`'s `error.rs`.

use std::borrow::Cow;
use std::fmt;

/// An error code from the OAuth 2.0 registries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// RFC 6749 §5.2: missing, repeated or malformed parameter.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed.
    InvalidClient,
    /// RFC 6749 §5.2: the grant (code, refresh token, credentials) is invalid.
    InvalidGrant,
    /// RFC 6749 §5.2: the client may not use this grant type.
    UnauthorizedClient,
    /// RFC 6749 §5.2: the grant type is not supported by this server.
    UnsupportedGrantType,
    /// RFC 6749 §5.2: the scope is invalid, unknown or wider than allowed.
    InvalidScope,
    /// RFC 8707 §2: the `resource` is invalid or not allowed.
    InvalidTarget,
    /// RFC 7009 §2.2.1: this server cannot revoke that kind of token.
    UnsupportedTokenType,
    /// RFC 6750 §3.1: the bearer token is expired, revoked or malformed.
    InvalidToken,
    /// RFC 6750 §3.1: the token lacks a required scope.
    InsufficientScope,
    /// RFC 6749 §4.1.2.1: the server is temporarily unable to handle the request.
    TemporarilyUnavailable,
    /// RFC 6749 §4.1.2.1: the server does not support this response type.
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1: the user or the server denied the request.
    AccessDenied,
    /// OIDC Core §3.1.2.6: `prompt=none` and the user is not signed in.
    LoginRequired,
    /// OIDC Core §3.1.2.6: `prompt=none` and consent is needed.
    ConsentRequired,
    /// OIDC Core §3.1.2.6: `prompt=none` and some other interaction is needed.
    InteractionRequired,
    /// OIDC Core §3.1.2.6: the `request` parameter is not supported.
    RequestNotSupported,
    /// OIDC Core §3.1.2.6: the `request_uri` parameter is not supported.
    RequestUriNotSupported,
    /// RFC 9126 §4, OIDC Core §3.1.2.6: the `request_uri` is unknown, expired, used or
    /// another application's.
    InvalidRequestUri,
    /// RFC 9101 §6.2: the request object is invalid (signature, claims, parameters).
    InvalidRequestObject,
    /// RFC 9449 §5, §7.1: the DPoP proof is missing where required, malformed or wrong.
    InvalidDpopProof,
    /// RFC 9449 §8, §9: the proof must carry the nonce the `DPoP-Nonce` header gives.
    UseDpopNonce,
    /// RFC 8628 §3.5: the user has not answered yet.
    AuthorizationPending,
    /// RFC 8628 §3.5: polling too fast; the interval grows by 5 seconds.
    SlowDown,
    /// RFC 8628 §3.5: the device code expired.
    ExpiredToken,
    /// RFC 7591 §3.2.2: a redirect URI of a registration is invalid.
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2: a metadata value of a registration is invalid.
    InvalidClientMetadata,
    /// RFC 6749 §5.2-style error for the server's own failures.
    ServerError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::InvalidRequestObject => "invalid_request_object",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::ServerError => "server_error",
        }
    }

    /// The HTTP status of a JSON error response (RFC 6749 §5.2, RFC 6750 §3.1).
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::InsufficientScope => 403,
            Self::TemporarilyUnavailable => 503,
            Self::ServerError => 500,
            _ => 400,
        }
    }
}

/// An OAuth error with a human description for the developer integrating with Valet.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    description: Cow<'static, str>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: sanitize(description.into()),
        }
    }

    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }
    pub fn invalid_target(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidTarget, d)
    }
    pub fn unauthorized_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, d)
    }
    pub fn unsupported_grant_type(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnsupportedGrantType, d)
    }
    /// RFC 7591 §3.2.2 (status 400).
    pub fn invalid_redirect_uri(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRedirectUri, d)
    }
    /// RFC 7591 §3.2.2 (status 400).
    pub fn invalid_client_metadata(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClientMetadata, d)
    }

    pub fn description(&self) -> &str {
        &self.description
    }
}

impl fmt::Debug for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for OAuthError {}

/// RFC 6749 §4.1.2.1 / §5.2: `error_description` is limited to %x20-21 / %x23-5B / %x5D-7E.
/// A section sign reads "section ", a double quote becomes a single one; anything else
/// (backslashes, CR/LF/TAB, other non-ASCII) becomes a space, so a value echoed from the
/// request can never break the syntax.
fn sanitize(d: Cow<'static, str>) -> Cow<'static, str> {
    if d.chars().all(allowed_description_char) {
        return d;
    }
    let mut out = String::with_capacity(d.len());
    for c in d.chars() {
        match c {
            '§' => out.push_str("section "),
            '"' => out.push('\''),
            c if allowed_description_char(c) => out.push(c),
            _ => out.push(' '),
        }
    }
    Cow::Owned(out)
}

pub fn allowed_description_char(c: char) -> bool {
    matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_never_carry_forbidden_characters() {
        let e = OAuthError::invalid_request("bad \"scope\"\r\n\tvalue \\ é");
        assert!(e.description().chars().all(allowed_description_char));
        assert_eq!(e.description(), "bad 'scope'   value    ");
        let e = OAuthError::invalid_request("see RFC 7591 §3.2.2");
        assert_eq!(e.description(), "see RFC 7591 section 3.2.2");
    }

    #[test]
    fn statuses_follow_rfc_6749_and_6750() {
        assert_eq!(ErrorCode::InvalidClient.http_status(), 401);
        assert_eq!(ErrorCode::InvalidGrant.http_status(), 400);
        assert_eq!(ErrorCode::InsufficientScope.http_status(), 403);
        // RFC 7591 §3.2.2.
        assert_eq!(ErrorCode::InvalidRedirectUri.http_status(), 400);
        assert_eq!(
            ErrorCode::InvalidClientMetadata.as_str(),
            "invalid_client_metadata"
        );
    }
}
