//! Token revocation (RFC 7009). Valet records the revocation of a JWT access token by its
//! `jti` until the token's own `exp`; nothing is recorded when a token is issued.

use crate::OAuthError;
use crate::access_token::AccessTokenClaims;
use crate::application::Application;
use crate::error::ErrorCode;
use crate::params::Params;

/// RFC 7009 §2.1: `token_type_hint` is a hint, and a wrong hint still finds the token;
/// a hint naming a type this server does not know is `unsupported_token_type` (§2.2.1).
pub fn check_hint(params: &Params) -> Result<(), OAuthError> {
    match params.get("token_type_hint") {
        None | Some("access_token") | Some("refresh_token") => Ok(()),
        Some(other) => Err(OAuthError::new(
            ErrorCode::UnsupportedTokenType,
            format!("tokens of type {other} cannot be revoked here"),
        )),
    }
}

/// RFC 7009 §2.1: the server verifies the token was issued to the requesting client.
/// Another client's token is left alone and the answer is still 200 (docs/security.md, L5),
/// so a caller cannot probe which tokens exist.
pub fn may_revoke(caller: &Application, token: &AccessTokenClaims) -> bool {
    caller.client_id == token.client_id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints() {
        for ok in [
            &b""[..],
            b"token_type_hint=access_token",
            b"token_type_hint=refresh_token",
        ] {
            assert!(check_hint(&Params::parse(ok, &[]).unwrap()).is_ok());
        }
        let p = Params::parse(b"token_type_hint=id_token", &[]).unwrap();
        assert_eq!(
            check_hint(&p).unwrap_err().code,
            ErrorCode::UnsupportedTokenType
        );
    }
}
