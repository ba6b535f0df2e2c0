//! The flow advisor (issue 21): which profile, and so which grant, an application should
//! have, from what it is — the choice RFC 9700 §2 and RFC 8252 make for each kind of
//! client, in a sentence an operator can act on.

use crate::application::Profile;

/// What an operator knows about the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answers {
    /// A person signs in to it (otherwise it acts as itself).
    pub user: bool,
    /// It can show a browser on the same device, with a keyboard (not a TV, a CLI over
    /// SSH, a printer).
    pub browser_on_device: bool,
    /// It has a back end that keeps a secret (server-side code, not shipped to users).
    pub back_end: bool,
    /// It runs in a web browser (a single-page app); asked when there is no back end.
    pub in_browser: bool,
    /// Money, health or other high-risk data: the FAPI 2.0 Security Profile.
    pub high_assurance: bool,
}

/// Each profile, what it is for, in one line (the advice when none is given).
pub const PROFILES: &[(&str, &str)] = &[
    (
        "web",
        "a server-side web app with a back end that keeps a secret: authorization code + PKCE, refresh tokens",
    ),
    (
        "spa",
        "a single-page app in the browser, no back end: public, authorization code + PKCE, rotating refresh tokens",
    ),
    (
        "native",
        "a mobile or desktop app: public, authorization code + PKCE through the system browser (RFC 8252)",
    ),
    (
        "service",
        "a back end calling APIs as itself, no user: client_credentials with a secret",
    ),
    (
        "device",
        "a TV, a CLI or any device without a handy browser: the device flow (RFC 8628)",
    ),
    (
        "fapi2",
        "a high-assurance web app (money, health): FAPI 2.0 — private_key_jwt, pushed requests, DPoP-bound tokens",
    ),
];

/// The profile for `a`, and why in one sentence.
pub fn recommend(a: Answers) -> (Profile, &'static str) {
    if !a.user {
        return (
            Profile::Service,
            "no person signs in, so it authenticates as itself with client_credentials (RFC 6749 §4.4)",
        );
    }
    if !a.browser_on_device {
        return (
            Profile::Device,
            "a person signs in on another device (phone or computer) while this one polls: the device flow (RFC 8628)",
        );
    }
    if a.back_end {
        if a.high_assurance {
            return (
                Profile::Fapi2,
                "a back end handling high-risk data: FAPI 2.0 binds its tokens and proves its identity with keys, not secrets",
            );
        }
        return (
            Profile::Web,
            "its back end can keep a secret, so it is a confidential client using the authorization code flow with PKCE",
        );
    }
    if a.in_browser {
        return (
            Profile::Spa,
            "code in a browser cannot keep a secret: a public client, PKCE, and refresh tokens that rotate (RFC 9700 §2.2.2)",
        );
    }
    (
        Profile::Native,
        "an app on the user's device cannot keep a secret: a public client signing in through the system browser (RFC 8252)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEB: Answers = Answers {
        user: true,
        browser_on_device: true,
        back_end: true,
        in_browser: false,
        high_assurance: false,
    };

    #[test]
    fn each_kind_of_application_gets_its_profile() {
        assert_eq!(recommend(WEB).0, Profile::Web);
        let fapi = Answers {
            high_assurance: true,
            ..WEB
        };
        assert_eq!(recommend(fapi).0, Profile::Fapi2);
        let spa = Answers {
            back_end: false,
            in_browser: true,
            ..WEB
        };
        assert_eq!(recommend(spa).0, Profile::Spa);
        let native = Answers {
            back_end: false,
            ..WEB
        };
        assert_eq!(recommend(native).0, Profile::Native);
        let tv = Answers {
            browser_on_device: false,
            back_end: false,
            ..WEB
        };
        assert_eq!(recommend(tv).0, Profile::Device);
        let svc = Answers { user: false, ..WEB };
        assert_eq!(recommend(svc).0, Profile::Service);
    }

    #[test]
    fn every_profile_is_explained_and_parses() {
        for (name, what) in PROFILES {
            assert!(name.parse::<Profile>().is_ok(), "{name}");
            assert!(!what.is_empty());
        }
        assert_eq!(PROFILES.len(), 6);
    }
}
