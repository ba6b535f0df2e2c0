//! The Device Authorization Grant (RFC 8628): what a device may ask for (§3.1), the user
//! code a person types (§6.1), and what each poll of the token endpoint answers (§3.5).
//! The clock and the random bytes are the caller's.

use serde::{Deserialize, Serialize};

use crate::application::{Application, GrantType};
use crate::audience::{self, Api, Selection};
use crate::params::Params;
use crate::scope::Scope;
use crate::token::{Authentication, Issuance};
use crate::{ErrorCode, OAuthError, UnixTime};

/// The grant type at the token endpoint (RFC 8628 §3.4).
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Consonants only (RFC 8628 §6.1): no vowels, so no words, and none that read alike
/// (no `0`/`O`, `1`/`I`).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// 20^8 ≈ 2^34.6 codes (§5.1: guessing is bounded by the throttle on the page).
pub const USER_CODE_LEN: usize = 8;
/// Random bytes a device code carries: 256 bits, 43 base64url characters.
pub const DEVICE_CODE_BYTES: usize = 32;
/// Random bytes to draw for one user code: enough for eight accepted bytes but with a
/// probability below 2^-100 (each byte is kept with probability 240/256).
pub const USER_CODE_RANDOM_BYTES: usize = 48;
/// `expires_in` of the device authorization response, seconds.
pub const DEVICE_CODE_TTL: i64 = 600;
/// The minimum gap between polls at first, seconds (§3.2, §3.5).
pub const INTERVAL: i64 = 5;
/// How much a `slow_down` adds to the gap (§3.5).
pub const SLOW_DOWN_STEP: i64 = 5;
/// The gap never grows past this (a client ignoring `slow_down` keeps getting it).
pub const MAX_INTERVAL: i64 = 60;

/// A user code from random bytes (rejection sampling: a byte ≥ 240 is skipped, so each of
/// the 20 letters is equally likely), in its stored form: eight letters, no dash. `None`
/// only if `random` had too few usable bytes.
pub fn user_code(random: &[u8]) -> Option<String> {
    let code: String = random
        .iter()
        .filter(|b| **b < 240)
        .take(USER_CODE_LEN)
        .map(|b| USER_CODE_ALPHABET[usize::from(*b % 20)] as char)
        .collect();
    (code.len() == USER_CODE_LEN).then_some(code)
}

/// How a user code is shown: `BCDF-GHJK`.
pub fn display(code: &str) -> String {
    if code.len() == USER_CODE_LEN && code.is_ascii() {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_owned()
    }
}

/// What a person typed, as a stored user code (RFC 8628 §6.1): letters in either case,
/// with or without the dash, spaces ignored. `None` if it cannot be a user code (then no
/// lookup is needed, but the attempt still counts).
pub fn normalize(typed: &str) -> Option<String> {
    if typed.len() > 64 {
        return None;
    }
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then_some(code)
}

/// What a device code stands for, stored with it (opaque to the store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceDetails {
    pub scope: Scope,
    pub audience: Vec<String>,
}

impl DeviceDetails {
    pub fn selection(&self) -> Selection {
        Selection {
            scope: self.scope.clone(),
            audience: self.audience.clone(),
        }
    }

    /// What a redeemed device code yields (§3.5): the tokens of the grant the user
    /// approved, a refresh token where the application may refresh (a `device`
    /// application's `openid` alone is enough). No nonce: there was no authorization
    /// request to carry one.
    pub fn issuance(
        &self,
        app: &Application,
        user_id: &str,
        grant_id: &str,
        auth_time: UnixTime,
        amr: &[String],
    ) -> Issuance {
        Issuance::for_user(
            app,
            user_id,
            grant_id,
            Authentication::new(auth_time, amr),
            self.selection(),
            None,
        )
    }
}

/// The device authorization request (§3.1) of an authenticated application: it must be
/// registered for the grant (`unauthorized_client`); `scope` and `resource` select as at
/// the token endpoint (`invalid_scope`, `invalid_target`); a user's token never carries
/// `valet:admin`.
pub fn request(
    app: &Application,
    params: &Params,
    apis: &[Api],
    default_audience: &str,
) -> Result<DeviceDetails, OAuthError> {
    if !app.allows_grant(GrantType::DeviceCode) {
        return Err(OAuthError::unauthorized_client(
            "this application may not use the device authorization grant",
        ));
    }
    let selection =
        audience::select_requested(params, &app.allowed_scopes(), apis, default_audience)?;
    app.check_admin_scope(&selection.scope, true)?;
    Ok(DeviceDetails {
        scope: selection.scope,
        audience: selection.audience,
    })
}

/// Where the person stands with a device code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Nobody answered yet.
    Pending,
    /// A user allowed it.
    Approved,
    /// A user denied it.
    Denied,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "approved" => Some(Self::Approved),
            "denied" => Some(Self::Denied),
            _ => None,
        }
    }
}

/// A device code as a poll sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollState {
    pub status: Status,
    /// The gap required between polls now.
    pub interval: i64,
    /// The last poll, or the device authorization response before the first.
    pub last_poll_at: UnixTime,
    pub expires_at: UnixTime,
    pub redeemed: bool,
}

/// What a poll answers (§3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// `authorization_pending`; the poll is recorded.
    Pending,
    /// `slow_down`: too soon after the last poll (or the response); the gap becomes
    /// `interval` for this device code from now on.
    SlowDown { interval: i64 },
    /// `access_denied`.
    Denied,
    /// `expired_token`.
    Expired,
    /// Redeemed already: `invalid_grant`, as an unknown code.
    Redeemed,
    /// Approved: redeem it (atomically) and issue the tokens.
    Issue,
}

/// The answer to a poll at `now`, in this order: a redeemed code is gone (`invalid_grant`),
/// an expired one `expired_token`, a denied one `access_denied`; then a poll less than
/// `interval` seconds after the last one (the device authorization response counts as the
/// first) is `slow_down`, whatever the person did; then pending or issue.
pub fn poll(s: &PollState, now: UnixTime) -> Poll {
    if s.redeemed {
        return Poll::Redeemed;
    }
    if now >= s.expires_at {
        return Poll::Expired;
    }
    if s.status == Status::Denied {
        return Poll::Denied;
    }
    if now - s.last_poll_at < s.interval {
        return Poll::SlowDown {
            interval: (s.interval + SLOW_DOWN_STEP).min(MAX_INTERVAL),
        };
    }
    match s.status {
        Status::Pending => Poll::Pending,
        Status::Approved => Poll::Issue,
        Status::Denied => Poll::Denied,
    }
}

/// The one answer to a device code that is unknown, of another application, or already
/// redeemed (the contract: another client's code reads exactly like a made-up one).
pub fn invalid_device_code() -> OAuthError {
    OAuthError::invalid_grant(
        "the device code is invalid or was already used; start a new device authorization",
    )
}

impl Poll {
    /// The error a non-issuing answer is sent as.
    pub fn error(self) -> Option<OAuthError> {
        Some(match self {
            Self::Pending => OAuthError::new(
                ErrorCode::AuthorizationPending,
                "the user has not answered yet; poll again after the interval",
            ),
            Self::SlowDown { interval } => OAuthError::new(
                ErrorCode::SlowDown,
                format!("polling too fast; wait at least {interval} seconds between polls"),
            ),
            Self::Denied => OAuthError::new(ErrorCode::AccessDenied, "the user denied the request"),
            Self::Expired => OAuthError::new(
                ErrorCode::ExpiredToken,
                "the device code expired; start a new device authorization",
            ),
            Self::Redeemed => invalid_device_code(),
            Self::Issue => return None,
        })
    }
}

/// The device authorization response (§3.2). `Debug` never prints the device code.
#[derive(Clone, Serialize, Deserialize)]
pub struct DeviceAuthorizationResponse {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

impl std::fmt::Debug for DeviceAuthorizationResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorizationResponse")
            .field("device_code", &"[redacted]")
            .field("user_code", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish()
    }
}

/// The response for a fresh device code and user code (stored form) at `issuer`.
pub fn response(issuer: &str, device_code: String, user_code: &str) -> DeviceAuthorizationResponse {
    let shown = display(user_code);
    DeviceAuthorizationResponse {
        device_code,
        verification_uri: format!("{issuer}/device"),
        verification_uri_complete: format!("{issuer}/device?user_code={shown}"),
        user_code: shown,
        expires_in: DEVICE_CODE_TTL,
        interval: INTERVAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_use_the_alphabet_and_read_in_halves() {
        let random: Vec<u8> = (0..=255u8).cycle().skip(230).take(48).collect();
        let code = user_code(&random).unwrap();
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
        // 230..239 are kept, 240..255 skipped, then 0, 1, ...
        assert_eq!(code, "NPQRSTVW");
        assert_eq!(display(&code), "NPQR-STVW");
        assert_eq!(user_code(&[250; 48]), None, "too few usable bytes");
        // Every letter is reachable and equally likely: 240 = 12 × 20.
        let all: Vec<u8> = (0..240).collect();
        let mut counts = [0u32; 20];
        for chunk in all.chunks(8) {
            for b in user_code(chunk).unwrap().bytes() {
                counts[USER_CODE_ALPHABET.iter().position(|a| *a == b).unwrap()] += 1;
            }
        }
        assert!(counts.iter().all(|c| *c == 12), "{counts:?}");
    }

    #[test]
    fn typed_codes_are_normalised() {
        // RFC 8628 §6.1: case-insensitive, the dash and spaces optional.
        for typed in [
            "BCDF-GHJK",
            "bcdf-ghjk",
            "BCDFGHJK",
            " bcdf ghjk ",
            "Bcdf-Ghjk\n",
        ] {
            assert_eq!(normalize(typed).as_deref(), Some("BCDFGHJK"), "{typed:?}");
        }
        for bad in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-EFGH",
            "BCDF-GHJ0",
            "BCDF_GHJK",
            "ВCDF-GHJK",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
        assert_eq!(normalize(&"B".repeat(1000)), None);
    }

    fn state(status: Status) -> PollState {
        PollState {
            status,
            interval: INTERVAL,
            last_poll_at: 1000,
            expires_at: 1000 + DEVICE_CODE_TTL,
            redeemed: false,
        }
    }

    #[test]
    fn polls_answer_in_order() {
        let pending = state(Status::Pending);
        // The interval counts from the device authorization response.
        assert_eq!(poll(&pending, 1004), Poll::SlowDown { interval: 10 });
        assert_eq!(poll(&pending, 1005), Poll::Pending);
        assert_eq!(
            poll(&state(Status::Approved), 1004),
            Poll::SlowDown { interval: 10 }
        );
        assert_eq!(poll(&state(Status::Approved), 1005), Poll::Issue);
        assert_eq!(poll(&state(Status::Denied), 1001), Poll::Denied);
        assert_eq!(poll(&pending, 1600), Poll::Expired);
        assert_eq!(poll(&state(Status::Approved), 1600), Poll::Expired);
        let redeemed = PollState {
            redeemed: true,
            ..state(Status::Approved)
        };
        assert_eq!(poll(&redeemed, 1010), Poll::Redeemed);
        assert_eq!(poll(&redeemed, 2000), Poll::Redeemed);
        // The gap grows by 5 s per slow_down, up to a bound.
        let slowed = PollState {
            interval: 10,
            last_poll_at: 1010,
            ..pending
        };
        assert_eq!(poll(&slowed, 1019), Poll::SlowDown { interval: 15 });
        assert_eq!(poll(&slowed, 1020), Poll::Pending);
        let slowest = PollState {
            interval: MAX_INTERVAL,
            ..slowed
        };
        assert_eq!(
            poll(&slowest, 1011),
            Poll::SlowDown {
                interval: MAX_INTERVAL
            }
        );
    }

    #[test]
    fn poll_errors_use_the_rfc_8628_codes() {
        let code = |p: Poll| p.error().unwrap().code.as_str();
        assert_eq!(code(Poll::Pending), "authorization_pending");
        assert_eq!(code(Poll::SlowDown { interval: 10 }), "slow_down");
        assert_eq!(code(Poll::Denied), "access_denied");
        assert_eq!(code(Poll::Expired), "expired_token");
        assert_eq!(code(Poll::Redeemed), "invalid_grant");
        assert!(Poll::Issue.error().is_none());
        assert_eq!(Poll::Redeemed.error(), Some(invalid_device_code()));
    }

    #[test]
    fn requests_need_the_grant_and_select_like_other_grants() {
        use crate::application::{AuthMethod, Profile};
        let mut app = Application {
            client_id: "tv".into(),
            name: "TV".into(),
            description: None,
            website: None,
            logo_uri: None,
            policy_uri: None,
            profile: Profile::Device,
            redirect_uris: vec![],
            grant_types: Profile::Device.default_grant_types(),
            scopes: vec![],
            token_endpoint_auth_method: AuthMethod::None,
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
        };
        assert!(app.validate().is_ok());
        let params = |q: &str| Params::parse(q.as_bytes(), &["resource"]).unwrap();
        let d = request(
            &app,
            &params("scope=openid+offline_access"),
            &[],
            "https://id",
        )
        .unwrap();
        assert_eq!(d.scope.to_wire(), "openid offline_access");
        assert_eq!(d.audience, ["https://id"]);
        let e = request(&app, &params("scope=reports.read"), &[], "https://id").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidScope);
        app.grant_types = vec![GrantType::RefreshToken];
        let e = request(&app, &params("scope=openid"), &[], "https://id").unwrap_err();
        assert_eq!(e.code, ErrorCode::UnauthorizedClient);
        // A device application has no redirect URI.
        app.grant_types = Profile::Device.default_grant_types();
        app.redirect_uris = vec!["https://app.example/cb".into()];
        assert!(app.validate().unwrap_err().contains("no redirect URI"));
    }

    #[test]
    fn the_response_points_at_the_page() {
        let r = response("https://id.example", "d".repeat(43), "BCDFGHJK");
        assert_eq!(r.user_code, "BCDF-GHJK");
        assert_eq!(r.verification_uri, "https://id.example/device");
        assert_eq!(
            r.verification_uri_complete,
            "https://id.example/device?user_code=BCDF-GHJK"
        );
        assert_eq!((r.expires_in, r.interval), (600, 5));
        assert!(!format!("{r:?}").contains("ddd"));
    }
}
