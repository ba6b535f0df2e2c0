//! The authorization_code grant (RFC 6749 §4.1.3, RFC 7636 §4.6): what a code remembers
//! of its authorization request, and the checks a token request must pass to redeem it.
//! Single use is the store's job (one atomic statement); replay revokes the grant.

use serde::{Deserialize, Serialize};

use crate::application::{Application, GrantType};
use crate::audience::Selection;
use crate::authorize::AuthorizationRequest;
use crate::params::Params;
use crate::pkce::{self, Challenge};
use crate::scope::Scope;
use crate::token::{Authentication, Issuance};
use crate::{OAuthError, UnixTime};

/// Default code lifetime (RFC 6749 §4.1.2: "a maximum lifetime of 10 minutes is
/// RECOMMENDED"; checklist D5 recommends 60 s).
pub const CODE_TTL: i64 = 60;

/// Everything the token endpoint needs to know about a code, stored as JSON beside its
/// hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeDetails {
    pub redirect_uri: String,
    pub redirect_uri_sent: bool,
    pub scope: Scope,
    pub audience: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce: Option<Challenge>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub user_id: String,
    pub auth_time: UnixTime,
    /// How the session signed in (RFC 8176); codes from before have none (a password).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// RFC 9449 §10: the DPoP key the token request's proof must be signed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

impl CodeDetails {
    pub fn new(
        req: &AuthorizationRequest,
        user_id: &str,
        auth_time: UnixTime,
        amr: &[String],
    ) -> Self {
        Self {
            redirect_uri: req.redirect_uri.clone(),
            redirect_uri_sent: req.redirect_uri_sent,
            scope: req.scope.clone(),
            audience: req.audience.clone(),
            pkce: req.pkce.clone(),
            nonce: req.nonce.clone(),
            user_id: user_id.to_owned(),
            auth_time,
            amr: amr.to_vec(),
            dpop_jkt: req.dpop_jkt.clone(),
        }
    }
}

/// What the store says, when a code is redeemed, about the grant the code started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantState {
    /// The grant record is still there (it outlives its code: `expires_at` counts the
    /// code's lifetime and its access token's).
    pub exists: bool,
    /// The grant was revoked: consent withdrawn on `/account`, logout (grants without
    /// `offline_access`), an admin's revocation.
    pub revoked: bool,
    /// The browser session the code was issued in has ended (logout, whatever the grant's
    /// scope; a new sign-in replacing it; expiry).
    pub session_ended: bool,
}

/// A code redeems only while its grant stands and the session it was issued in goes on
/// (issue 12 item 5): what ended the grant or the session before the code came back must
/// also stop the code, or signing out and removing an application would leave a minute in
/// which a code still turns into a fresh token set.
pub fn grant_still_stands(g: GrantState) -> Result<(), OAuthError> {
    if !g.exists || g.revoked || g.session_ended {
        return Err(OAuthError::invalid_grant(
            "the code's authorization has ended (the user signed out or removed the \
             application's access); start a new authorization request",
        ));
    }
    Ok(())
}

/// Checks a token request against the code it redeems. The code is already burned, so a
/// failed check (a wrong verifier, say) leaves nothing to retry (checklist E3).
pub fn check(
    app: &Application,
    code_client_id: &str,
    code: &CodeDetails,
    params: &Params,
    s256: impl Fn(&str) -> String,
) -> Result<(), OAuthError> {
    if !app.allows_grant(GrantType::AuthorizationCode) {
        return Err(OAuthError::unauthorized_client(
            "this application may not use the authorization_code grant",
        ));
    }
    // RFC 6749 §4.1.3: the code was issued to this client (checklist D3).
    if code_client_id != app.client_id {
        return Err(OAuthError::invalid_grant(
            "the code is invalid, expired or was issued to another application",
        ));
    }
    // RFC 6749 §4.1.3: redirect_uri identical to the authorization request's (D4).
    match params.get("redirect_uri") {
        Some(uri) if uri == code.redirect_uri => {}
        None if !code.redirect_uri_sent => {}
        _ => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri must be the one sent in the authorization request",
            ));
        }
    }
    pkce::verify(code.pkce.as_ref(), params.get("code_verifier"), s256)
}

/// RFC 9449 §10.1: a code bound to a DPoP key is redeemed only with a proof of that key.
pub fn check_dpop(code: &CodeDetails, proof_jkt: Option<&str>) -> Result<(), OAuthError> {
    match (code.dpop_jkt.as_deref(), proof_jkt) {
        (Some(bound), Some(jkt)) if bound == jkt => Ok(()),
        (Some(_), _) => Err(crate::dpop::invalid(
            "this code is bound to a DPoP key (dpop_jkt): redeem it with a DPoP proof signed \
             by that key",
        )),
        (None, _) => Ok(()),
    }
}

/// What a redeemed code yields (RFC 6749 §4.1.4; OIDC Core §3.1.3.3): the tokens of the
/// grant it started, for the scope and audience the user consented to, with the nonce of
/// the authorization request in the ID token.
pub fn issuance(app: &Application, details: &CodeDetails, grant_id: &str) -> Issuance {
    Issuance::for_user(
        app,
        &details.user_id,
        grant_id,
        Authentication::new(details.auth_time, &details.amr),
        Selection {
            scope: details.scope.clone(),
            audience: details.audience.clone(),
        },
        details.nonce.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use crate::application::Profile;

    fn app(id: &str) -> Application {
        Application {
            client_id: id.into(),
            name: "App".into(),
            description: None,
            website: None,
            logo_uri: None,
            policy_uri: None,
            profile: Profile::Web,
            redirect_uris: vec!["https://app.example/cb".into()],
            grant_types: Profile::Web.default_grant_types(),
            scopes: vec![],
            token_endpoint_auth_method: Profile::Web.default_auth_method(),
            token_endpoint_auth_method_chosen: false,
            trusted: false,
            service_subject: None,
            post_logout_redirect_uris: vec![],
            allow_plain_pkce: false,
            require_pkce: false,
            require_mfa: false,
            id_token_on_refresh: true,
            cors_origins: vec![],
            access_token_format: Default::default(),
            registration: Default::default(),
            access_token_ttl: None,
            refresh_token_ttl: None,
            backchannel_logout_uri: None,
            assurance: Default::default(),
            backchannel_logout_session_required: false,
        }
    }

    fn details(pkce: bool) -> CodeDetails {
        CodeDetails {
            redirect_uri: "https://app.example/cb".into(),
            redirect_uri_sent: true,
            scope: Scope::parse("openid").unwrap(),
            audience: vec!["https://valet.example".into()],
            pkce: pkce.then(|| Challenge {
                value: "c".repeat(43),
                method: pkce::Method::S256,
            }),
            nonce: None,
            user_id: "u1".into(),
            auth_time: 1,
            amr: vec![],
            dpop_jkt: None,
        }
    }

    fn s256(v: &str) -> String {
        if v == "v".repeat(43) {
            "c".repeat(43)
        } else {
            "x".into()
        }
    }

    fn check_with(app_id: &str, d: &CodeDetails, body: &str) -> Result<(), ErrorCode> {
        let p = Params::parse(body.as_bytes(), &[]).unwrap();
        check(&app(app_id), "a1", d, &p, s256).map_err(|e| e.code)
    }

    #[test]
    fn redeems_when_everything_matches() {
        let uri = "redirect_uri=https%3A%2F%2Fapp.example%2Fcb";
        assert_eq!(check_with("a1", &details(false), uri), Ok(()));
        let v = "v".repeat(43);
        assert_eq!(
            check_with("a1", &details(true), &format!("{uri}&code_verifier={v}")),
            Ok(())
        );
    }

    #[test]
    fn a_code_dies_with_its_grant_or_session() {
        let live = GrantState {
            exists: true,
            revoked: false,
            session_ended: false,
        };
        assert_eq!(grant_still_stands(live), Ok(()));
        for dead in [
            GrantState {
                exists: false,
                ..live
            },
            GrantState {
                revoked: true,
                ..live
            },
            GrantState {
                session_ended: true,
                ..live
            },
        ] {
            assert_eq!(
                grant_still_stands(dead).map_err(|e| e.code),
                Err(ErrorCode::InvalidGrant),
                "{dead:?}"
            );
        }
    }

    #[test]
    fn binding_failures_are_invalid_grant() {
        let uri = "redirect_uri=https%3A%2F%2Fapp.example%2Fcb";
        // D3: another client.
        assert_eq!(
            check_with("a2", &details(false), uri),
            Err(ErrorCode::InvalidGrant)
        );
        // D4: missing or different redirect_uri.
        assert_eq!(
            check_with("a1", &details(false), ""),
            Err(ErrorCode::InvalidGrant)
        );
        assert_eq!(
            check_with(
                "a1",
                &details(false),
                "redirect_uri=https%3A%2F%2Fapp.example%2Fcb%2F"
            ),
            Err(ErrorCode::InvalidGrant)
        );
        // A request that omitted redirect_uri need not repeat it.
        let mut d = details(false);
        d.redirect_uri_sent = false;
        assert_eq!(check_with("a1", &d, ""), Ok(()));
        // E4, E5 through pkce::verify.
        assert_eq!(
            check_with("a1", &details(true), uri),
            Err(ErrorCode::InvalidGrant)
        );
        assert_eq!(
            check_with(
                "a1",
                &details(false),
                &format!("{uri}&code_verifier={}", "v".repeat(43))
            ),
            Err(ErrorCode::InvalidGrant)
        );
    }
}
