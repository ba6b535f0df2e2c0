//! The refresh_token grant (RFC 6749 §6; RFC 9700 §4.14): what a refresh token
//! remembers, the checks a refresh must pass, and what a reused token means.

use serde::{Deserialize, Serialize};

use crate::application::{Application, GrantType};
use crate::audience::{self, Api, Selection};
use crate::params::Params;
use crate::scope::Scope;
use crate::token::{Authentication, Issuance, Refresh};
use crate::{OAuthError, UnixTime};

/// Stored as JSON beside the token's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshDetails {
    /// The scope of the grant: a refresh may narrow it, never widen it.
    pub scope: Scope,
    pub auth_time: UnixTime,
    /// How the user signed in (RFC 8176); tokens from before have none (a password).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// RFC 9449 §5: the DPoP key a public application's refresh token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

/// When refresh tokens rotate (RFC 9700 §4.14.2: public clients MUST be sender-constrained
/// or rotate; checklist G10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationPolicy {
    /// Public applications only (the default).
    Public,
    /// Every application.
    All,
}

impl RotationPolicy {
    pub fn rotates(self, app: &Application) -> bool {
        self == Self::All || !app.is_confidential()
    }
}

/// Checks a refresh of a token issued to `token_client_id` and selects the new access
/// token's scope and audience.
///
/// - the token is bound to its client (RFC 6749 §6; checklist G4);
/// - `scope` may narrow, never widen (RFC 6749 §6; G5);
/// - scopes the application has since lost are dropped.
pub fn check(
    app: &Application,
    token_client_id: &str,
    details: &RefreshDetails,
    params: &Params,
    apis: &[Api],
    default_audience: &str,
) -> Result<Selection, OAuthError> {
    if !app.allows_grant(GrantType::RefreshToken) {
        return Err(OAuthError::unauthorized_client(
            "this application may not use the refresh_token grant",
        ));
    }
    if token_client_id != app.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token is invalid, expired, revoked or was issued to another \
             application; sign the user in again to get a new one",
        ));
    }
    let still_allowed = app.allowed_scopes();
    let granted: Vec<String> = details
        .scope
        .iter()
        .filter(|s| still_allowed.iter().any(|a| a == s))
        .map(str::to_owned)
        .collect();
    let requested = params.get("scope").map(Scope::parse).transpose()?;
    if let Some(t) = requested.as_ref().and_then(|r| r.first_outside(&granted)) {
        return Err(OAuthError::invalid_scope(format!(
            "the scope {t} was not granted; a refresh can only narrow the scope"
        )));
    }
    let resources: Vec<&str> = params.all("resource").collect();
    audience::select(
        requested.as_ref(),
        &resources,
        &granted,
        apis,
        default_audience,
    )
}

/// What the presented refresh token is, as the store knows it.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    /// The application it was issued to.
    pub client_id: &'a str,
    /// The user and the grant it belongs to.
    pub user_id: &'a str,
    pub grant_id: &'a str,
    /// Whether its grant was revoked (consent withdrawn, logout, reuse, an admin).
    pub grant_revoked: bool,
    /// When it was rotated, if it was.
    pub rotated_at: Option<UnixTime>,
    pub details: &'a RefreshDetails,
}

/// How this application's refresh tokens behave.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Whether a use rotates the token (`RotationPolicy::rotates`).
    pub rotates: bool,
    /// Seconds during which a rotated token's retry gets the same answer; 0: never.
    pub retry_window: i64,
}

/// What a refresh-token request comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Another application's token, or its grant ended: `invalid_grant`, nothing changes
    /// (checklist G4, G7).
    Reject,
    /// A rotated token came back outside the retry window, or where tokens do not
    /// rotate: the token may have been stolen, so its whole family is revoked (RFC 9700
    /// §4.14.2; checklist G1).
    Revoke,
    /// A rotated token came back within the window: the answer is the one the rotation
    /// stored (the store hands it back when the rotation is attempted again, G3).
    Retry(Issuance),
    /// A new access token and a successor refresh token; this one is retired, atomically
    /// (G2).
    Rotate(Issuance),
    /// A new access token; the refresh token stays valid (confidential applications
    /// under `RotationPolicy::Public`).
    Reissue(Issuance),
}

/// The refresh grant's one decision (RFC 6749 §6): in this order, the token's binding and
/// standing, what a reuse means, then the application's right to the grant and the scope
/// the new access token gets (`check`).
pub fn decide(
    app: &Application,
    token: &Presented<'_>,
    params: &Params,
    apis: &[Api],
    default_audience: &str,
    policy: Policy,
    now: UnixTime,
) -> Result<Decision, OAuthError> {
    if token.client_id != app.client_id || token.grant_revoked {
        return Ok(Decision::Reject);
    }
    let retry = match token.rotated_at {
        Some(at) => {
            if !policy.rotates || on_reuse(at, now, policy.retry_window) == Reuse::Revoke {
                return Ok(Decision::Revoke);
            }
            true
        }
        None => false,
    };
    let selection = check(
        app,
        token.client_id,
        token.details,
        params,
        apis,
        default_audience,
    )?;
    // An ID token again when the scope has `openid` (OIDC Core §12.2), without a nonce
    // (§12.2: none was sent), unless the application takes none on refresh (§12.2 makes
    // it optional). A successor remembers the grant's original scope.
    let mut issuance = Issuance::for_user(
        app,
        token.user_id,
        token.grant_id,
        Authentication::new(token.details.auth_time, &token.details.amr),
        selection,
        None,
    );
    if !app.id_token_on_refresh {
        issuance.id_token = None;
    }
    issuance.refresh = if policy.rotates {
        Refresh::Rotate(token.details.clone())
    } else {
        Refresh::Keep
    };
    Ok(match (retry, policy.rotates) {
        (true, _) => Decision::Retry(issuance),
        (false, true) => Decision::Rotate(issuance),
        (false, false) => Decision::Reissue(issuance),
    })
}

/// What a second use of a rotated refresh token means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// A retry within the window (several tabs, a lost response): answer with the same
    /// successor pair the first use got.
    Retry,
    /// Reuse outside the window: the token may have been stolen; revoke the family
    /// (RFC 9700 §4.14.2; checklist G1).
    Revoke,
}

/// A window of 0 turns retries off: every reuse revokes.
pub fn on_reuse(rotated_at: UnixTime, now: UnixTime, retry_window: i64) -> Reuse {
    if retry_window > 0 && now - rotated_at <= retry_window {
        Reuse::Retry
    } else {
        Reuse::Revoke
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use crate::application::Profile;

    fn app() -> Application {
        Application {
            client_id: "a1".into(),
            name: "App".into(),
            description: None,
            website: None,
            logo_uri: None,
            policy_uri: None,
            profile: Profile::Spa,
            redirect_uris: vec!["https://app.example/cb".into()],
            grant_types: Profile::Spa.default_grant_types(),
            scopes: vec![],
            token_endpoint_auth_method: Profile::Spa.default_auth_method(),
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

    fn details() -> RefreshDetails {
        RefreshDetails {
            scope: Scope::parse("openid profile offline_access").unwrap(),
            auth_time: 1,
            amr: vec![],
            dpop_jkt: None,
        }
    }

    fn run(client: &str, body: &str) -> Result<Selection, ErrorCode> {
        let p = Params::parse(body.as_bytes(), &[]).unwrap();
        check(&app(), client, &details(), &p, &[], "https://v").map_err(|e| e.code)
    }

    #[test]
    fn keeps_or_narrows_the_scope() {
        assert_eq!(
            run("a1", "").unwrap().scope.to_wire(),
            "openid profile offline_access"
        );
        assert_eq!(run("a1", "scope=openid").unwrap().scope.to_wire(), "openid");
        assert_eq!(run("a1", "").unwrap().audience, ["https://v"]);
    }

    #[test]
    fn refuses_widening_and_other_clients() {
        assert_eq!(
            run("a1", "scope=openid+email"),
            Err(ErrorCode::InvalidScope)
        );
        assert_eq!(run("a2", ""), Err(ErrorCode::InvalidGrant));
    }

    #[test]
    fn decide_in_order_binding_reuse_then_scope() {
        let d = details();
        let p = Params::parse(b"", &[]).unwrap();
        let wide = Params::parse(b"scope=openid+email", &[]).unwrap();
        let rotating = Policy {
            rotates: true,
            retry_window: 10,
        };
        let token = |client: &'static str, revoked: bool, rotated_at: Option<i64>| Presented {
            client_id: client,
            user_id: "u1",
            grant_id: "g1",
            grant_revoked: revoked,
            rotated_at,
            details: &d,
        };
        let run = |t: Presented<'_>, params: &Params, policy: Policy| {
            decide(&app(), &t, params, &[], "https://v", policy, 100)
        };
        assert_eq!(
            run(token("a2", false, None), &p, rotating),
            Ok(Decision::Reject)
        );
        assert_eq!(
            run(token("a1", true, None), &p, rotating),
            Ok(Decision::Reject)
        );
        // A reuse is decided before the scope is looked at.
        assert_eq!(
            run(token("a1", false, Some(80),), &wide, rotating),
            Ok(Decision::Revoke)
        );
        assert!(matches!(
            run(token("a1", false, Some(95)), &p, rotating),
            Ok(Decision::Retry(_))
        ));
        let fixed = Policy {
            rotates: false,
            retry_window: 10,
        };
        assert_eq!(
            run(token("a1", false, Some(95)), &p, fixed),
            Ok(Decision::Revoke)
        );
        let Ok(Decision::Rotate(i)) = run(token("a1", false, None), &p, rotating) else {
            panic!("a fresh token of a rotating application rotates");
        };
        assert_eq!(
            i.refresh,
            Refresh::Rotate(d.clone()),
            "the original details"
        );
        assert_eq!((i.sub(), i.grant_id()), ("u1", Some("g1")));
        assert!(
            i.id_token.is_some_and(|t| t.nonce.is_none()),
            "OIDC Core §12.2"
        );
        let narrowed = Params::parse(b"scope=profile", &[]).unwrap();
        let Ok(Decision::Reissue(i)) = run(token("a1", false, None), &narrowed, fixed) else {
            panic!("a fixed token is reissued");
        };
        assert_eq!(i.refresh, Refresh::Keep);
        assert!(i.id_token.is_none(), "no openid in the narrowed scope");
        assert_eq!(
            run(token("a1", false, None), &wide, rotating).map_err(|e| e.code),
            Err(ErrorCode::InvalidScope)
        );
    }

    #[test]
    fn rotation_policy_and_reuse_window() {
        assert!(RotationPolicy::Public.rotates(&app()));
        let mut web = app();
        web.token_endpoint_auth_method = crate::application::AuthMethod::ClientSecretBasic;
        assert!(!RotationPolicy::Public.rotates(&web));
        assert!(RotationPolicy::All.rotates(&web));
        assert_eq!(on_reuse(100, 110, 10), Reuse::Retry);
        assert_eq!(on_reuse(100, 111, 10), Reuse::Revoke);
        assert_eq!(on_reuse(100, 100, 0), Reuse::Revoke);
        assert_eq!(on_reuse(100, 101, 0), Reuse::Revoke);
    }
}
