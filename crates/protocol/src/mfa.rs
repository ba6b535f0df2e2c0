//! Second factors (issue 16): the server's policy, what a sign-in needs after the
//! password, the RFC 8176 `amr` a session records and the `acr` it reaches, and the TOTP
//! time steps a code is checked against (RFC 6238 §4, §5.2). The HMAC itself is the
//! server's (`valet-server`'s `mfa/totp.rs`): this crate holds no keys.

use serde::{Deserialize, Serialize};

use crate::UnixTime;
use crate::application::Application;
use crate::authorize::AuthorizationRequest;
use crate::id_token::{ACR_MFA, ACR_PASSWORD};

/// The `mfa` setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// No second factor is offered or asked for; an application that requires one cannot
    /// be signed in to.
    Off,
    /// Users may enrol one; those who did are asked for it at every sign-in.
    #[default]
    Optional,
    /// Every user has one: a user without is sent to enrol right after the password.
    Required,
}

impl Policy {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "off" => Some(Self::Off),
            "optional" => Some(Self::Optional),
            "required" => Some(Self::Required),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Optional => "optional",
            Self::Required => "required",
        }
    }
}

/// RFC 8176 method references.
pub const AMR_PASSWORD: &str = "pwd";
pub const AMR_OTP: &str = "otp";
pub const AMR_MFA: &str = "mfa";

/// The `amr` of a password alone.
pub fn password_amr() -> Vec<String> {
    vec![AMR_PASSWORD.to_owned()]
}

/// The `amr` of a password and a one-time code (an authenticator app's or a recovery
/// code: both are one-time passwords, RFC 8176 §2 `otp`).
pub fn two_factor_amr() -> Vec<String> {
    vec![
        AMR_PASSWORD.to_owned(),
        AMR_OTP.to_owned(),
        AMR_MFA.to_owned(),
    ]
}

/// Whether `amr` records two factors.
pub fn has_two_factors(amr: &[String]) -> bool {
    amr.iter().any(|m| m == AMR_MFA)
}

/// The `acr` an `amr` reaches; an empty one (records from before) is a password.
pub fn acr_of(amr: &[String]) -> &'static str {
    if has_two_factors(amr) {
        ACR_MFA
    } else {
        ACR_PASSWORD
    }
}

/// Whether a sign-in for `req` of `app` must end with two factors: the application
/// requires it, or the request's `acr_values` (OIDC Core §3.1.2.1: the values the
/// application will take, in order of preference) name the MFA `acr` and not the
/// password's, so nothing weaker would do.
pub fn demanded(app: &Application, req: &AuthorizationRequest) -> bool {
    let asks = |acr: &str| req.acr_values.iter().any(|v| v == acr);
    app.require_mfa || (asks(ACR_MFA) && !asks(ACR_PASSWORD))
}

/// What follows a correct password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPassword {
    /// A session, with the password alone.
    SignIn,
    /// The second-factor step, before any session.
    Verify,
    /// Enrolment of an authenticator app, before any session.
    Enrol,
}

/// What follows a correct password under `policy`, for a user who has (`enrolled`) or has
/// not a second factor, when the application or request `demanded` one.
pub fn after_password(policy: Policy, enrolled: bool, demanded: bool) -> AfterPassword {
    match policy {
        Policy::Off => AfterPassword::SignIn,
        _ if enrolled => AfterPassword::Verify,
        Policy::Required => AfterPassword::Enrol,
        Policy::Optional if demanded => AfterPassword::Enrol,
        Policy::Optional => AfterPassword::SignIn,
    }
}

/// RFC 6238 §5.2: the time step (30 s, the default every authenticator app uses).
pub const TOTP_STEP: i64 = 30;
/// Steps of clock drift accepted either side (RFC 6238 §5.2 recommends at most one).
pub const TOTP_DRIFT: i64 = 1;
/// Digits of a code.
pub const TOTP_DIGITS: u32 = 6;

/// The time step of `now` (RFC 6238 §4.2: `T = floor((now - T0) / X)`, `T0 = 0`).
pub fn totp_step(now: UnixTime) -> i64 {
    now.div_euclid(TOTP_STEP)
}

/// The steps a code entered at `now` is checked against, the current one first, then one
/// behind and one ahead.
pub fn totp_window(now: UnixTime) -> [i64; 3] {
    let t = totp_step(now);
    [t, t - TOTP_DRIFT, t + TOTP_DRIFT]
}

/// What a person typed as a one-time code, if it has the shape of one (six digits,
/// spaces ignored: apps show `123 456`).
pub fn totp_input(text: &str) -> Option<String> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == TOTP_DIGITS as usize && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(digits)
}

/// A recovery code as typed, normalised: case, spaces and dashes do not matter.
pub fn recovery_input(text: &str) -> Option<String> {
    let s: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (s.len() >= 10 && s.len() <= 32).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_follows_the_password() {
        use AfterPassword::*;
        for (policy, enrolled, demanded, next) in [
            (Policy::Off, true, true, SignIn),
            (Policy::Off, false, false, SignIn),
            (Policy::Optional, false, false, SignIn),
            (Policy::Optional, true, false, Verify),
            (Policy::Optional, false, true, Enrol),
            (Policy::Required, false, false, Enrol),
            (Policy::Required, true, false, Verify),
        ] {
            assert_eq!(
                after_password(policy, enrolled, demanded),
                next,
                "{policy:?} {enrolled} {demanded}"
            );
        }
    }

    #[test]
    fn amr_and_acr() {
        assert_eq!(acr_of(&password_amr()), ACR_PASSWORD);
        assert_eq!(acr_of(&[]), ACR_PASSWORD);
        assert_eq!(acr_of(&two_factor_amr()), ACR_MFA);
        assert!(has_two_factors(&two_factor_amr()));
        assert!(!has_two_factors(&password_amr()));
    }

    #[test]
    fn steps_and_window() {
        // RFC 6238 Appendix B: 59 s is step 1, 1111111109 step 37037036.
        assert_eq!(totp_step(59), 1);
        assert_eq!(totp_step(1_111_111_109), 37_037_036);
        assert_eq!(totp_step(1_111_111_111), 37_037_037);
        assert_eq!(totp_window(60), [2, 1, 3]);
    }

    #[test]
    fn inputs() {
        assert_eq!(totp_input("123 456").as_deref(), Some("123456"));
        assert_eq!(totp_input("12345"), None);
        assert_eq!(totp_input("12345a"), None);
        assert_eq!(totp_input("１２３４５６"), None, "ASCII digits only");
        assert_eq!(
            recovery_input("ABCD-efgh-2345").as_deref(),
            Some("abcdefgh2345")
        );
        assert_eq!(recovery_input("short"), None);
    }

    #[test]
    fn policy_names() {
        for p in [Policy::Off, Policy::Optional, Policy::Required] {
            assert_eq!(Policy::parse(p.as_str()), Some(p));
        }
        assert_eq!(Policy::parse("on"), None);
        assert_eq!(Policy::default(), Policy::Optional);
    }
}
