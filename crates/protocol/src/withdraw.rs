//! Withdrawing one scope of an application a user allowed (issue 16), on `/account`: the
//! consent and the grants of that user and application keep the other scopes, refresh
//! tokens from then on carry only what is left, and an access token minted before the
//! withdrawal, or carrying a scope the grant no longer has, reads inactive.

use crate::UnixTime;
use crate::refresh::RefreshDetails;
use crate::scope::Scope;

/// What withdrawing `scope` from a consent comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withdrawal {
    /// The consent keeps these scopes (never empty).
    Narrow(Scope),
    /// Nothing would be left, or the scope is `openid` (an application that signs the
    /// user in without it is another application): remove the application instead.
    RemoveApplication,
    /// The consent does not hold that scope (already withdrawn, or never given).
    NotGranted,
}

/// The decision for withdrawing `scope` from the scopes `consented`.
pub fn withdraw(consented: &Scope, scope: &str) -> Withdrawal {
    if !consented.contains(scope) {
        return Withdrawal::NotGranted;
    }
    if scope == "openid" {
        return Withdrawal::RemoveApplication;
    }
    let left = Scope::from_tokens(consented.iter().filter(|s| *s != scope));
    if left.is_empty() {
        Withdrawal::RemoveApplication
    } else {
        Withdrawal::Narrow(left)
    }
}

/// Whether the account page offers to withdraw `scope` alone (otherwise only removing the
/// application does it).
pub fn withdrawable(consented: &Scope, scope: &str) -> bool {
    matches!(withdraw(consented, scope), Withdrawal::Narrow(_))
}

/// A grant whose user withdrew a scope: what it holds now, and since when.
#[derive(Debug, Clone, Copy)]
pub struct Narrowed<'a> {
    pub scope: &'a Scope,
    pub at: UnixTime,
}

/// Whether an access token of a grant still stands after its narrowing: one issued
/// before the withdrawal is dead (`iat` is in whole seconds, so one of the very second
/// stands only if it carries nothing the grant lost), and so is any that carries a scope
/// outside the grant's current one. A grant never narrowed changes nothing.
pub fn access_token_stands(
    token_scope: Option<&str>,
    iat: UnixTime,
    narrowed: Option<Narrowed<'_>>,
) -> bool {
    let Some(n) = narrowed else {
        return true;
    };
    let within = match token_scope {
        None => true,
        Some(raw) => Scope::parse(raw).is_ok_and(|c| c.is_subset_of(n.scope)),
    };
    iat >= n.at && within
}

/// What a refresh token may still yield: its remembered scope within the grant's
/// current one (a successor remembers only that).
pub fn refresh_within(details: &RefreshDetails, grant_scope: &Scope) -> RefreshDetails {
    RefreshDetails {
        scope: Scope::from_tokens(details.scope.iter().filter(|s| grant_scope.contains(s))),
        auth_time: details.auth_time,
        amr: details.amr.clone(),
        dpop_jkt: details.dpop_jkt.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(raw: &str) -> Scope {
        Scope::parse(raw).unwrap()
    }

    #[test]
    fn one_scope_is_withdrawn_openid_never_alone() {
        let c = s("openid profile email");
        assert_eq!(
            withdraw(&c, "email"),
            Withdrawal::Narrow(s("openid profile"))
        );
        assert_eq!(withdraw(&c, "openid"), Withdrawal::RemoveApplication);
        assert_eq!(withdraw(&c, "phone"), Withdrawal::NotGranted);
        assert_eq!(withdraw(&s("read"), "read"), Withdrawal::RemoveApplication);
        assert_eq!(
            withdraw(&s("openid email"), "email"),
            Withdrawal::Narrow(s("openid"))
        );
        assert!(withdrawable(&c, "profile"));
        assert!(!withdrawable(&c, "openid"));
        assert!(!withdrawable(&s("read"), "read"));
    }

    #[test]
    fn tokens_minted_before_or_carrying_what_was_withdrawn_are_dead() {
        let now = s("openid profile");
        let n = Some(Narrowed {
            scope: &now,
            at: 100,
        });
        assert!(access_token_stands(Some("openid profile email"), 50, None));
        assert!(!access_token_stands(Some("openid profile"), 99, n));
        assert!(!access_token_stands(Some("openid email"), 100, n));
        assert!(access_token_stands(Some("openid profile"), 100, n));
        assert!(access_token_stands(Some("openid"), 200, n));
        assert!(!access_token_stands(Some("openid email"), 200, n));
        assert!(access_token_stands(None, 200, n));
    }

    #[test]
    fn refresh_tokens_carry_only_what_is_left() {
        let d = RefreshDetails {
            scope: s("openid profile email offline_access"),
            auth_time: 7,
            amr: vec!["pwd".into(), "otp".into()],
            dpop_jkt: None,
        };
        let r = refresh_within(&d, &s("openid email offline_access"));
        assert_eq!(r.scope, s("openid email offline_access"));
        assert_eq!(r.auth_time, 7);
        assert_eq!(r.amr, ["pwd", "otp"], "how the user signed in stays");
    }
}
