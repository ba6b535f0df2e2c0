//! Request objects (RFC 9101, JAR): a `request` parameter at the authorization or PAR
//! endpoint is a JWT signed with one of the application's registered keys
//! (`client_keys.rs`; never `none`, never an HMAC); its claims are then the request's
//! only parameters (`protocol::request_object`).

use valet_protocol::OAuthError;
use valet_protocol::UnixTime;
use valet_protocol::application::Application;
use valet_protocol::error::ErrorCode;
use valet_protocol::params::Params;
use valet_protocol::request_object::{self, Expected};

use crate::state::AppState;

fn invalid(why: String) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequestObject, why)
}

/// The parameters of `app`'s request object `jwt`, or why it cannot be used
/// (`invalid_request_object`).
pub async fn parameters(
    state: &AppState,
    app: &Application,
    jwt: &str,
    now: UnixTime,
) -> Result<Params, OAuthError> {
    let header = valet_jose::header(jwt)
        .map_err(|_| invalid("the request object is not a signed JWT (a compact JWS)".into()))?;
    // RFC 9101 §6.1 allows unsigned objects; Valet does not (OIDC Core §3.1.2.6).
    if header.alg == "none" {
        return Err(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "unsigned request objects (alg none) are not supported: sign it with one of the \
             application's registered keys",
        ));
    }
    // RFC 9101 §10.8: `oauth-authz-req+jwt` when typed; a plain JWT is accepted too.
    if header
        .typ
        .as_deref()
        .is_some_and(|t| !matches!(t, "oauth-authz-req+jwt" | "JWT" | "jwt"))
    {
        return Err(invalid(
            "the request object's typ must be oauth-authz-req+jwt".into(),
        ));
    }
    // FAPI 2.0 §5.4.1: PS256, ES256 or EdDSA.
    if (app.is_fapi2() || state.settings.fapi2) && header.alg == "RS256" {
        return Err(invalid(
            "under the FAPI 2.0 profile a request object is signed with PS256, ES256 or EdDSA"
                .into(),
        ));
    }
    let key = state
        .client_keys
        .key_for(app, &header, now)
        .await
        .map_err(|why| invalid(format!("the request object's key: {why}")))?;
    let payload = key
        .verify(jwt, &header)
        .map_err(|e| invalid(format!("the request object's signature: {e}")))?;
    request_object::parameters(
        &payload,
        &Expected {
            client_id: &app.client_id,
            issuer: &state.settings.issuer,
            strict: app.is_fapi2() || state.settings.fapi2,
            now,
        },
    )
}
