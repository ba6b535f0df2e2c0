//! Passkeys (WebAuthn Level 3, issue 16), through webauthn-rs: registering one from the
//! account page (`routes/account/passkeys.rs`), signing in with one as the first factor
//! (`routes/passkey.rs`: a discoverable credential, no username typed) or as the second
//! after a password (`routes/second_factor/`).
//!
//! The relying party is the issuer: its host is the RP ID and its origin the one origin a
//! ceremony's client data may name (WebAuthn §5.1.3 step 9, §7.2 step 13). An issuer whose
//! host is an IP address cannot have passkeys (an RP ID is a domain, §4 "RP ID"), and then
//! none are offered. A ceremony's in-progress state (its challenge, the credentials it
//! allows) travels sealed in a single-use form (`interaction.rs`): it cannot be read or
//! changed by the browser, opens only in the browser it was made for, within 15 minutes,
//! and only once — what webauthn-rs asks of a state kept "server side".
//!
//! Every passkey requires user verification (a PIN or biometric on the authenticator):
//! a passkey alone is two factors (something held, something known or been), so a passkey
//! sign-in records `amr` `hwk` (or `swk` for a passkey that can be synced: RFC 8176 §2,
//! a key that can leave the device is software-protected), `user` and `mfa`.

use serde::Serialize;
use url::Url;
use webauthn_rs::prelude::{
    AuthenticationResult, CredentialID, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::crypto::b64;
use crate::fault::Fault;

/// Passkeys one user may register.
pub const MAX_PER_USER: u32 = 10;
/// Longest name of a passkey, in characters.
pub const MAX_NAME: usize = 64;
/// Longest credential JSON a browser may post (a registration carries the attestation
/// object: a few hundred bytes with `none` attestation, a few kilobytes with a
/// certificate chain).
pub const MAX_CREDENTIAL_JSON: usize = 16 * 1024;

/// The node's relying party, if the issuer can have passkeys.
pub struct Passkeys {
    webauthn: Option<Webauthn>,
}

/// Why a ceremony's answer was not taken. Said to the person in one sentence; the detail
/// goes to the log.
#[derive(Debug)]
pub struct Refused(pub String);

impl Passkeys {
    /// The relying party of `issuer`, named `name` to the person's authenticator; none
    /// when the issuer's host is not a domain name.
    pub fn new(issuer: &str, name: &str) -> Self {
        let webauthn = Url::parse(issuer).ok().and_then(|url| {
            let host = url.domain()?.to_owned();
            let origin = Url::parse(&url.origin().ascii_serialization()).ok()?;
            WebauthnBuilder::new(&host, &origin)
                .ok()?
                .rp_name(name)
                .build()
                .ok()
        });
        if webauthn.is_none() {
            tracing::info!(
                issuer,
                "passkeys are not offered: the issuer's host is not a domain name"
            );
        }
        Self { webauthn }
    }

    pub fn available(&self) -> bool {
        self.webauthn.is_some()
    }

    fn rp(&self) -> Result<&Webauthn, Fault> {
        self.webauthn
            .as_ref()
            .ok_or(Fault::Invariant("passkeys are not available here"))
    }

    /// The WebAuthn user handle of `sub` (§5.4.3: opaque, at most 64 bytes, no personal
    /// information): the first 16 bytes of a hash of it, the same on every node.
    pub fn user_handle(sub: &str) -> Uuid {
        let digest = crate::crypto::sha256(format!("valet passkey user\0{sub}").as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest.as_bytes()[..16]);
        Uuid::from_bytes(bytes)
    }

    /// Starts registering a passkey for `sub` (shown to the authenticator as `username`
    /// and `display`), excluding the credentials it has already (§5.4
    /// `excludeCredentials`). The options for the browser as JSON, and the state to seal.
    pub fn start_registration(
        &self,
        sub: &str,
        username: &str,
        display: &str,
        existing: &[Passkey],
    ) -> Result<(String, PasskeyRegistration), Fault> {
        let exclude: Vec<CredentialID> = existing.iter().map(|p| p.cred_id().clone()).collect();
        let (options, state) = self
            .rp()?
            .start_passkey_registration(
                Self::user_handle(sub),
                username,
                display,
                (!exclude.is_empty()).then_some(exclude),
            )
            .map_err(|e| fault("start a passkey registration", e))?;
        // A passkey is a discoverable credential (§6.2.2, §5.4.4 `residentKey`): without
        // it, "Sign in with a passkey" could not find it with no username typed.
        let mut options =
            serde_json::to_value(&options).map_err(Fault::encode("passkey options"))?;
        if let Some(sel) = options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(serde_json::Value::as_object_mut)
        {
            sel.insert("residentKey".into(), "required".into());
            sel.insert("requireResidentKey".into(), true.into());
        }
        Ok((json(&options)?, state))
    }

    /// The registered passkey, if the browser's answer (`credential`, JSON) passes every
    /// check of §7.1 against `state`.
    pub fn finish_registration(
        &self,
        credential: &str,
        state: &PasskeyRegistration,
    ) -> Result<Passkey, Refused> {
        let reg: RegisterPublicKeyCredential = parse(credential)?;
        self.rp()
            .map_err(|_| refused("passkeys are not available"))?
            .finish_passkey_registration(&reg, state)
            .map_err(|e| {
                tracing::info!(error = %e, "a passkey registration was refused");
                refused("the passkey's answer did not check out")
            })
    }

    /// Starts a sign-in with any passkey of this relying party (a discoverable credential,
    /// no username). The options as JSON, and the state to seal.
    pub fn start_sign_in(&self) -> Result<(String, DiscoverableAuthentication), Fault> {
        let (mut options, state) = self
            .rp()?
            .start_discoverable_authentication()
            .map_err(|e| fault("start a passkey sign-in", e))?;
        // The page asks both ways: quietly in the username field's autofill (conditional
        // mediation) and with the button; it sets `mediation` itself.
        options.mediation = None;
        Ok((json(&options)?, state))
    }

    /// The credential id (base64url) and user handle a sign-in's answer names, before it is
    /// checked: which passkey record to check it against.
    pub fn identify(
        &self,
        credential: &str,
    ) -> Result<(PublicKeyCredential, String, Uuid), Refused> {
        let cred: PublicKeyCredential = parse(credential)?;
        let (handle, id) = self
            .rp()
            .map_err(|_| refused("passkeys are not available"))?
            .identify_discoverable_authentication(&cred)
            .map_err(|_| refused("the passkey did not say whose it is"))?;
        let id = b64(id);
        Ok((cred, id, handle))
    }

    /// Checks a sign-in's answer against `state` and the passkey it named (§7.2).
    pub fn finish_sign_in(
        &self,
        cred: &PublicKeyCredential,
        state: DiscoverableAuthentication,
        passkey: &Passkey,
    ) -> Result<AuthenticationResult, Refused> {
        self.rp()
            .map_err(|_| refused("passkeys are not available"))?
            .finish_discoverable_authentication_v2(cred, state, passkey)
            .map_err(|e| {
                tracing::info!(error = %e, "a passkey sign-in was refused");
                refused("the passkey's answer did not check out")
            })
    }

    /// Starts a second-factor check with one of `passkeys` (the user's). The options as
    /// JSON, and the state to seal.
    pub fn start_second_factor(
        &self,
        passkeys: &[Passkey],
    ) -> Result<(String, PasskeyAuthentication), Fault> {
        let (options, state) = self
            .rp()?
            .start_passkey_authentication(passkeys)
            .map_err(|e| fault("start a passkey check", e))?;
        Ok((json(&options)?, state))
    }

    /// Checks a second factor's answer against `state` (which names the user's passkeys).
    pub fn finish_second_factor(
        &self,
        credential: &str,
        state: &PasskeyAuthentication,
    ) -> Result<(String, AuthenticationResult), Refused> {
        let cred: PublicKeyCredential = parse(credential)?;
        let id = b64(cred.get_credential_id());
        let result = self
            .rp()
            .map_err(|_| refused("passkeys are not available"))?
            .finish_passkey_authentication(&cred, state)
            .map_err(|e| {
                tracing::info!(error = %e, "a passkey check was refused");
                refused("the passkey's answer did not check out")
            })?;
        Ok((id, result))
    }
}

/// The `amr` of a passkey check (RFC 8176 §2): `hwk` for a key bound to its device, `swk`
/// for one that may be synced (backup eligible, WebAuthn §6.1 `BE`), with `after` (the
/// password's `pwd`, for a second factor) first. Always `mfa`: user verification was
/// required.
pub fn amr(result: &AuthenticationResult, after: Option<&str>) -> Vec<String> {
    let key = if result.backup_eligible() {
        "swk"
    } else {
        "hwk"
    };
    let mut amr: Vec<String> = after.into_iter().map(str::to_owned).collect();
    amr.push(key.to_owned());
    if after.is_none() {
        amr.push("user".to_owned());
    }
    amr.push(valet_protocol::mfa::AMR_MFA.to_owned());
    amr
}

/// A stored passkey's credential, as webauthn-rs reads it.
pub fn read(stored: &str) -> Option<Passkey> {
    serde_json::from_str(stored).ok()
}

/// A passkey's credential as stored.
pub fn write(passkey: &Passkey) -> Result<String, Fault> {
    serde_json::to_string(passkey).map_err(Fault::encode("passkey"))
}

/// A name a person gave a passkey: trimmed, control characters out, at most `MAX_NAME`
/// characters; `None` when nothing is left.
pub fn clean_name(typed: &str) -> Option<String> {
    let name: String = typed
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME)
        .collect();
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

fn json<T: Serialize>(value: &T) -> Result<String, Fault> {
    serde_json::to_string(value).map_err(Fault::encode("passkey options"))
}

fn parse<T: serde::de::DeserializeOwned>(credential: &str) -> Result<T, Refused> {
    if credential.len() > MAX_CREDENTIAL_JSON {
        return Err(refused("the passkey's answer is too long"));
    }
    serde_json::from_str(credential).map_err(|_| refused("the passkey's answer is not readable"))
}

fn refused(why: &str) -> Refused {
    Refused(why.to_owned())
}

fn fault(what: &'static str, e: impl std::fmt::Display) -> Fault {
    tracing::error!(error = %e, "could not {what}");
    Fault::Invariant(what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_passkeys_for_an_address() {
        assert!(!Passkeys::new("http://127.0.0.1:8080", "Valet").available());
        assert!(!Passkeys::new("https://[::1]", "Valet").available());
        assert!(Passkeys::new("http://localhost:8080", "Valet").available());
        assert!(Passkeys::new("https://id.example.com/tenant", "Valet").available());
    }

    #[test]
    fn user_handles_are_stable_and_distinct() {
        assert_eq!(Passkeys::user_handle("u1"), Passkeys::user_handle("u1"));
        assert_ne!(Passkeys::user_handle("u1"), Passkeys::user_handle("u2"));
    }

    #[test]
    fn names() {
        assert_eq!(clean_name("  Work laptop \n"), Some("Work laptop".into()));
        assert_eq!(clean_name(" \t "), None);
        assert_eq!(clean_name(&"x".repeat(100)).unwrap().len(), MAX_NAME);
        assert_eq!(clean_name("a\u{0}b"), Some("ab".into()));
    }

    #[test]
    fn registration_asks_for_a_discoverable_credential() {
        let rp = Passkeys::new("http://localhost:8080", "Valet");
        let (options, _) = rp.start_registration("u1", "ann", "Ann", &[]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&options).unwrap();
        let sel = &v["publicKey"]["authenticatorSelection"];
        assert_eq!(sel["residentKey"], "required", "{options}");
        assert_eq!(sel["userVerification"], "required", "{options}");
        assert_eq!(v["publicKey"]["rp"]["id"], "localhost");
    }

    #[test]
    fn unreadable_answers_are_refused() {
        let rp = Passkeys::new("http://localhost:8080", "Valet");
        assert!(rp.identify("{}").is_err());
        assert!(rp.identify(&"x".repeat(MAX_CREDENTIAL_JSON + 1)).is_err());
    }
}
