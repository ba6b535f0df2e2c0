//! Secrets at rest: the master key and what is derived from it (HKDF-SHA-256, RFC 5869),
//! the keyed hash of client secrets, sealing of signing keys, and fresh random tokens.

use aws_lc_rs::{aead, hkdf, hmac, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use std::fmt;
use valet_store::{SecretHash, TokenHash};

use crate::fault::Fault;

/// 256 bits from the environment or the key file. Everything sealed or hashed at rest
/// depends on it: losing it loses every signing key and client secret.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    pub fn generate() -> Result<Self, Fault> {
        let mut k = [0u8; 32];
        rand::fill(&mut k).map_err(|_| Fault::Random)?;
        Ok(Self(k))
    }

    /// Accepts 32 bytes as base64url, standard base64 or hex.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let bytes = [
            decode_hex(t),
            B64.decode(t.trim_end_matches('=')).ok(),
            base64::engine::general_purpose::STANDARD.decode(t).ok(),
        ]
        .into_iter()
        .flatten()
        .find(|b| b.len() == 32)
        .ok_or("a master key is 32 bytes written as base64url (43 characters) or hex")?;
        let mut k = [0u8; 32];
        k.copy_from_slice(&bytes);
        Ok(Self(k))
    }

    pub fn encode(&self) -> String {
        B64.encode(self.0)
    }

    fn derive(&self, purpose: &'static str) -> [u8; 32] {
        struct Len;
        impl hkdf::KeyType for Len {
            fn len(&self) -> usize {
                32
            }
        }
        let mut out = [0u8; 32];
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"valet").extract(&self.0);
        let info = [purpose.as_bytes()];
        // HKDF-Expand of 32 bytes from SHA-256 cannot fail (the limit is 255 * 32).
        if let Ok(okm) = prk.expand(&info, Len) {
            let _ = okm.fill(&mut out);
        }
        out
    }

    pub fn secret_hasher(&self) -> SecretHasher {
        SecretHasher(hmac::Key::new(
            hmac::HMAC_SHA256,
            &self.derive("valet client-secret hmac v1"),
        ))
    }

    /// Keys the names of sign-in throttle counters (`users/signin.rs`), so the store
    /// holds no login name or address in the clear.
    pub fn throttle_hasher(&self) -> SecretHasher {
        SecretHasher(hmac::Key::new(
            hmac::HMAC_SHA256,
            &self.derive("valet throttle hmac v1"),
        ))
    }

    /// Keys the stored form of device user codes and the throttle counters of the device
    /// page: a user code has ~34 bits, so a plain hash in a database dump would give it
    /// away; an HMAC under this key does not.
    pub fn device_hasher(&self) -> SecretHasher {
        SecretHasher(hmac::Key::new(
            hmac::HMAC_SHA256,
            &self.derive("valet device user-code hmac v1"),
        ))
    }

    /// Keys the CSRF tokens of the pages (bound to a browser session).
    pub fn csrf_hasher(&self) -> SecretHasher {
        SecretHasher(hmac::Key::new(
            hmac::HMAC_SHA256,
            &self.derive("valet csrf hmac v1"),
        ))
    }

    /// Seals authorization requests carried through the login and consent forms, and the
    /// responses kept for refresh-token retries. A key apart from the one sealing signing
    /// keys, so neither can be swapped for the other.
    pub fn interaction_sealer(&self) -> Result<Sealer, Fault> {
        self.sealer_for("valet interaction seal v1")
    }

    /// Seals users' TOTP secrets for the store (issue 16).
    pub fn totp_sealer(&self) -> Result<Sealer, Fault> {
        self.sealer_for("valet totp seal v1")
    }

    /// Keys the stored form of recovery codes (issue 16).
    pub fn recovery_hasher(&self) -> SecretHasher {
        SecretHasher(hmac::Key::new(
            hmac::HMAC_SHA256,
            &self.derive("valet recovery-code hmac v1"),
        ))
    }

    /// Keys the DPoP nonces this server gives (RFC 9449 §8): every node derives the same.
    pub fn dpop_nonce_hasher(&self) -> SecretHasher {
        SecretHasher(hmac::Key::new(
            hmac::HMAC_SHA256,
            &self.derive("valet dpop nonce hmac v1"),
        ))
    }

    /// Keys pairwise subject identifiers (OIDC Core §8.1): one per sector, stable.
    pub fn pairwise_hasher(&self) -> SecretHasher {
        SecretHasher(hmac::Key::new(
            hmac::HMAC_SHA256,
            &self.derive("valet pairwise sub hmac v1"),
        ))
    }

    pub fn sealer(&self) -> Result<Sealer, Fault> {
        self.sealer_for("valet key seal v1")
    }

    fn sealer_for(&self, purpose: &'static str) -> Result<Sealer, Fault> {
        let key = aead::UnboundKey::new(&aead::AES_256_GCM, &self.derive(purpose))
            .map_err(|_| Fault::Seal)?;
        Ok(Sealer(aead::LessSafeKey::new(key)))
    }
}

fn decode_hex(t: &str) -> Option<Vec<u8>> {
    if t.len() % 2 != 0 {
        return None;
    }
    (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok())
        .collect()
}

/// HMAC-SHA-256 of client secrets. Valet's secrets carry 256 bits of entropy, so a slow
/// hash would add latency and no safety (checklist N4); the key keeps a database dump
/// from being usable on its own.
#[derive(Clone)]
pub struct SecretHasher(hmac::Key);

impl fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHasher([redacted])")
    }
}

impl SecretHasher {
    pub fn hash(&self, secret: &str) -> SecretHash {
        SecretHash(hmac::sign(&self.0, secret.as_bytes()).as_ref().to_vec())
    }

    /// Constant-time comparison (checklist F9): `hmac::verify` compares in fixed time.
    pub fn verify(&self, secret: &str, hash: &SecretHash) -> bool {
        hmac::verify(&self.0, secret.as_bytes(), &hash.0).is_ok()
    }
}

/// AES-256-GCM sealing of private keys. The output is nonce ‖ ciphertext ‖ tag; the
/// associated data binds a sealed key to its kid, so rows cannot be swapped.
pub struct Sealer(aead::LessSafeKey);

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> Result<Vec<u8>, Fault> {
        let mut nonce = [0u8; aead::NONCE_LEN];
        rand::fill(&mut nonce).map_err(|_| Fault::Random)?;
        let mut buf = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(aad.as_bytes()),
                &mut buf,
            )
            .map_err(|_| Fault::Seal)?;
        let mut out = nonce.to_vec();
        out.extend(buf);
        Ok(out)
    }

    pub fn open(&self, aad: &str, sealed: &[u8]) -> Result<Vec<u8>, Fault> {
        if sealed.len() < aead::NONCE_LEN {
            return Err(Fault::Unseal);
        }
        let (nonce, ct) = sealed.split_at(aead::NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| Fault::Unseal)?;
        let mut buf = ct.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, aead::Aad::from(aad.as_bytes()), &mut buf)
            .map_err(|_| Fault::Unseal)?;
        Ok(plain.to_vec())
    }
}

/// A secret shown once to a person (a client secret). `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A secret drawn elsewhere in this crate (an initial access token).
    pub(crate) fn from_string(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// `bytes` of CSPRNG output as base64url: the form of client ids, secrets and `jti`s
/// (VSCHAR only; checklist F14).
pub fn random_token(bytes: usize) -> Result<String, Fault> {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf).map_err(|_| Fault::Random)?;
    Ok(B64.encode(buf))
}

/// A new client_id of `bytes` random bytes, base64url, never starting with `-` or `_`: a
/// client_id is typed on command lines (`valet client show ID`), where a leading `-` reads
/// as a flag.
pub fn new_client_id(bytes: usize) -> Result<String, Fault> {
    loop {
        let id = random_token(bytes)?;
        if id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Ok(id);
        }
    }
}

/// `bytes` of CSPRNG output, raw (user codes are drawn from these).
pub fn random_bytes(bytes: usize) -> Result<Vec<u8>, Fault> {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf).map_err(|_| Fault::Random)?;
    Ok(buf)
}

/// SHA-256: how codes, refresh tokens, opaque access tokens, session ids and device codes
/// are stored (256-bit random values need no slow hash; a database dump alone does not
/// yield a usable token), as the store's `TokenHash`.
pub fn sha256(data: &[u8]) -> TokenHash {
    TokenHash::new(digest(data))
}

fn digest(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

/// BASE64URL(SHA-256(ASCII(verifier))), the PKCE S256 transform (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    B64.encode(digest(verifier.as_bytes()))
}

/// `at_hash` / `c_hash`: the left half of SHA-256 of the token, base64url (OIDC Core
/// §3.1.3.6; SHA-256 matches both RS256 and ES256).
pub fn half_hash(token: &str) -> String {
    let h = digest(token.as_bytes());
    B64.encode(&h[..16])
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn unb64(text: &str) -> Option<Vec<u8>> {
    B64.decode(text).ok()
}

/// A new client secret: 256 bits.
pub fn new_client_secret() -> Result<Secret, Fault> {
    random_token(32).map(Secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_key_round_trips_and_rejects_short_keys() {
        let k = MasterKey::generate().unwrap();
        let again = MasterKey::parse(&k.encode()).unwrap();
        assert_eq!(k.0, again.0);
        assert!(MasterKey::parse(&"ab".repeat(32)).is_ok());
        assert!(MasterKey::parse("short").is_err());
        assert!(!format!("{k:?}").contains(&k.encode()));
    }

    #[test]
    fn secret_hash_verifies_only_the_secret() {
        let h = MasterKey::generate().unwrap().secret_hasher();
        let stored = h.hash("s3cret");
        assert!(h.verify("s3cret", &stored));
        assert!(!h.verify("s3cres", &stored));
        assert!(!h.verify("", &stored));
        let other = MasterKey::generate().unwrap().secret_hasher();
        assert!(!other.verify("s3cret", &stored), "the hash is keyed");
    }

    #[test]
    fn sealing_binds_key_and_kid() {
        let k = MasterKey::generate().unwrap();
        let s = k.sealer().unwrap();
        let sealed = s.seal("kid1", b"private").unwrap();
        assert_eq!(s.open("kid1", &sealed).unwrap(), b"private");
        assert!(s.open("kid2", &sealed).is_err());
        let other = MasterKey::generate().unwrap().sealer().unwrap();
        assert!(
            other
                .open("kid1", &sealed)
                .unwrap_err()
                .to_string()
                .contains("master key")
        );
    }

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn tokens_are_long_and_url_safe() {
        let t = random_token(32).unwrap();
        assert_eq!(t.len(), 43);
        assert!(
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(t, random_token(32).unwrap());
    }
}
