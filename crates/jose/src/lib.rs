//! The JWS subset Valet needs (RFC 7515 compact serialization, RFC 7517 JWK, RFC 7518
//! ES256, RS256 and PS256, RFC 8037 EdDSA with Ed25519) over aws-lc-rs. Each private key
//! is parsed once and kept parsed, so a signature costs only the signature. Verification
//! pins each key to exactly one algorithm and treats `kid` as a map key only: `jku`, `x5u`,
//! `jwk` and `x5c` headers are never followed (RFC 8725 §3.1, §3.10). The one exception is
//! asked for by name: [`verify_embedded_jwk`], for DPoP proofs (RFC 9449 §4.3), whose
//! protocol makes the embedded key the point.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

mod embedded;
mod keyset;
pub use embedded::{EmbeddedKeyJws, verify_embedded_jwk};
pub use keyset::{KeySet, MAX_KEYS};

/// Longest compact JWS Valet will look at.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JoseError {
    #[error("malformed JWS")]
    Malformed,
    #[error("the algorithm does not match the key")]
    AlgorithmMismatch,
    #[error("bad signature")]
    BadSignature,
    #[error("unusable key: {0}")]
    BadKey(&'static str),
}

/// The signature algorithms Valet signs and verifies with. Never `none`, never HMAC: a
/// public key is never a MAC secret (RFC 8725 §3.1, §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    /// ECDSA with P-256 and SHA-256 (RFC 7518 §3.4).
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    RS256,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a 32-byte salt (RFC 7518 §3.5).
    PS256,
    /// EdDSA with Ed25519 (RFC 8037 §3.1); the only curve this crate takes for it.
    EdDSA,
}

impl Algorithm {
    /// Every algorithm this crate signs and verifies with.
    pub const ALL: [Algorithm; 4] = [Self::ES256, Self::RS256, Self::PS256, Self::EdDSA];

    /// The JWA name (RFC 7518 §3.1, RFC 8037 §3.1).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// The algorithm a JWA name names, if this crate implements it (names are
    /// case-sensitive, RFC 7515 §4.1.1).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A public JWK (RFC 7517 §4; RFC 7518 §6.2, §6.3; RFC 8037 §2 for `OKP`, which uses
/// `crv` and `x`). Never holds private members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

enum Private {
    Ec(EcdsaKeyPair),
    /// For RS256 and PS256 alike; the key's `alg` picks the padding.
    Rsa(RsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private signing key, parsed once.
pub struct SigningKey {
    alg: Algorithm,
    private: Private,
    jwk: Jwk,
    rng: SystemRandom,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({} {}, [redacted])", self.alg, self.jwk.kid)
    }
}

/// Generates a new private key and returns it as PKCS#8 DER: P-256 for ES256, RSA 2048
/// for RS256 and PS256, Ed25519 (a PKCS#8 v2 document, RFC 5958, holding the public key
/// too) for EdDSA. [`SigningKey::from_pkcs8`] reads each back.
pub fn generate_pkcs8(alg: Algorithm) -> Result<Vec<u8>, JoseError> {
    match alg {
        Algorithm::ES256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .map_err(|_| JoseError::BadKey("EC key generation failed"))?;
            Ok(doc.as_ref().to_vec())
        }
        Algorithm::RS256 | Algorithm::PS256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| JoseError::BadKey("RSA key generation failed"))?;
            let der = pair
                .as_der()
                .map_err(|_| JoseError::BadKey("RSA key encoding failed"))?;
            Ok(der.as_ref().to_vec())
        }
        Algorithm::EdDSA => {
            let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                .map_err(|_| JoseError::BadKey("Ed25519 key generation failed"))?;
            Ok(doc.as_ref().to_vec())
        }
    }
}

impl SigningKey {
    /// Parses a PKCS#8 private key (for Ed25519 v1 or v2). The `kid` is the key's RFC 7638
    /// thumbprint, so it is unique and the same on every node.
    pub fn from_pkcs8(alg: Algorithm, der: &[u8]) -> Result<Self, JoseError> {
        let (private, mut jwk) = match alg {
            Algorithm::ES256 => {
                let pair =
                    EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                        .map_err(|_| JoseError::BadKey("not a P-256 PKCS#8 key"))?;
                let point = pair.public_key().as_ref();
                if point.len() != 65 || point[0] != 4 {
                    return Err(JoseError::BadKey("unexpected EC point encoding"));
                }
                let jwk = Jwk {
                    kty: "EC".into(),
                    kid: String::new(),
                    alg: alg.as_str().into(),
                    use_: "sig".into(),
                    crv: Some("P-256".into()),
                    x: Some(B64.encode(&point[1..33])),
                    y: Some(B64.encode(&point[33..65])),
                    n: None,
                    e: None,
                };
                (Private::Ec(pair), jwk)
            }
            Algorithm::RS256 | Algorithm::PS256 => {
                let pair = RsaKeyPair::from_pkcs8(der)
                    .map_err(|_| JoseError::BadKey("not an RSA PKCS#8 key"))?;
                let parts = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                let jwk = Jwk {
                    kty: "RSA".into(),
                    kid: String::new(),
                    alg: alg.as_str().into(),
                    use_: "sig".into(),
                    crv: None,
                    x: None,
                    y: None,
                    n: Some(B64.encode(&parts.n)),
                    e: Some(B64.encode(&parts.e)),
                };
                (Private::Rsa(pair), jwk)
            }
            Algorithm::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(der)
                    .map_err(|_| JoseError::BadKey("not an Ed25519 PKCS#8 key"))?;
                let jwk = Jwk {
                    kty: "OKP".into(),
                    kid: String::new(),
                    alg: alg.as_str().into(),
                    use_: "sig".into(),
                    crv: Some("Ed25519".into()),
                    x: Some(B64.encode(pair.public_key().as_ref())),
                    y: None,
                    n: None,
                    e: None,
                };
                (Private::Ed(pair), jwk)
            }
        };
        jwk.kid = thumbprint(&jwk);
        Ok(Self {
            alg,
            private,
            jwk,
            rng: SystemRandom::new(),
        })
    }

    pub fn kid(&self) -> &str {
        &self.jwk.kid
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public half, for the JWKS.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// Signs `claims` as a compact JWS with header `{"alg","typ","kid"}`.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, JoseError> {
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'a str,
            typ: &'a str,
            kid: &'a str,
        }
        let header = serde_json::to_vec(&Header {
            alg: self.alg.as_str(),
            typ,
            kid: &self.jwk.kid,
        })
        .map_err(|_| JoseError::Malformed)?;
        let payload = serde_json::to_vec(claims).map_err(|_| JoseError::Malformed)?;
        let mut out = String::with_capacity(512);
        B64.encode_string(&header, &mut out);
        out.push('.');
        B64.encode_string(&payload, &mut out);
        let sig = self.signature(out.as_bytes())?;
        out.push('.');
        B64.encode_string(&sig, &mut out);
        Ok(out)
    }

    /// The JWS Signature over `input` (RFC 7518 §3.3–3.5, RFC 8037 §3.1).
    fn signature(&self, input: &[u8]) -> Result<Vec<u8>, JoseError> {
        match &self.private {
            Private::Ec(pair) => Ok(pair
                .sign(&self.rng, input)
                .map_err(|_| JoseError::BadSignature)?
                .as_ref()
                .to_vec()),
            Private::Rsa(pair) => {
                let padding = match self.alg {
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(padding, &self.rng, input, &mut sig)
                    .map_err(|_| JoseError::BadSignature)?;
                Ok(sig)
            }
            Private::Ed(pair) => Ok(pair
                .try_sign(input)
                .map_err(|_| JoseError::BadSignature)?
                .as_ref()
                .to_vec()),
        }
    }
}

/// The RFC 7638 JWK thumbprint (SHA-256, base64url): the hash of a JSON object holding
/// only the key type's required public members, in lexicographic order and without
/// whitespace (§3.2, §3.3) — `crv`, `kty`, `x`, `y` for EC (§3.2), `e`, `kty`, `n` for
/// RSA (§3.2), `crv`, `kty`, `x` for OKP (RFC 8037 §2). A missing required member counts
/// as an empty string. For a key type this crate does not know, every member `Jwk` holds
/// besides `kid`, `alg` and `use` is taken.
pub fn thumbprint(jwk: &Jwk) -> String {
    let required: &[&str] = match jwk.kty.as_str() {
        "EC" => &["crv", "x", "y"],
        "RSA" => &["e", "n"],
        "OKP" => &["crv", "x"],
        _ => &[],
    };
    let members = [
        ("crv", &jwk.crv),
        ("e", &jwk.e),
        ("n", &jwk.n),
        ("x", &jwk.x),
        ("y", &jwk.y),
    ];
    let mut canonical = BTreeMap::from([("kty", jwk.kty.as_str())]);
    for (name, value) in members {
        if required.contains(&name) || (required.is_empty() && value.is_some()) {
            canonical.insert(name, value.as_deref().unwrap_or(""));
        }
    }
    // A map of strings always serializes; the fallback only keeps this free of panics.
    let json = serde_json::to_string(&canonical).unwrap_or_default();
    B64.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        json.as_bytes(),
    ))
}

enum Public {
    /// ES256 and EdDSA: aws-lc-rs checks the point when it first verifies.
    Unparsed(UnparsedPublicKey<Vec<u8>>),
    /// RS256 and PS256; the key's `alg` picks the padding.
    Rsa(PublicKeyComponents<Vec<u8>>),
}

/// A public key pinned to one algorithm.
pub struct VerifyingKey {
    alg: Algorithm,
    kid: String,
    public: Public,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({} {})", self.alg, self.kid)
    }
}

/// Smallest RSA modulus taken, in bits (RFC 7518 §3.3, §3.5: 2048 or larger).
const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus taken, in bits (what aws-lc-rs verifies).
const RSA_MAX_BITS: usize = 8192;

impl VerifyingKey {
    /// The key a public JWK describes, pinned to the one algorithm its `alg` names. The
    /// key type must fit that algorithm (`EC` with `crv` `P-256` for ES256, `RSA` of 2048
    /// to 8192 bits for RS256 and PS256, `OKP` with `crv` `Ed25519` for EdDSA), or the
    /// key is [`JoseError::BadKey`].
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, JoseError> {
        let alg = Algorithm::parse(&jwk.alg).ok_or(JoseError::BadKey("unsupported alg"))?;
        let crv = jwk.crv.as_deref();
        let public = match (alg, jwk.kty.as_str()) {
            (Algorithm::ES256, "EC") if crv == Some("P-256") => {
                // Each coordinate full length (RFC 7518 §6.2.1.2, §6.2.1.3).
                let (x, y) = (b64_member(&jwk.x)?, b64_member(&jwk.y)?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(JoseError::BadKey("bad P-256 point"));
                }
                let point = [&[4u8][..], &x, &y].concat();
                Public::Unparsed(UnparsedPublicKey::new(
                    &signature::ECDSA_P256_SHA256_FIXED,
                    point,
                ))
            }
            (Algorithm::RS256 | Algorithm::PS256, "RSA") => Public::Rsa(rsa_components(jwk)?),
            (Algorithm::EdDSA, "OKP") if crv == Some("Ed25519") => {
                let x = b64_member(&jwk.x)?;
                if x.len() != 32 {
                    return Err(JoseError::BadKey("bad Ed25519 public key"));
                }
                Public::Unparsed(UnparsedPublicKey::new(&signature::ED25519, x))
            }
            _ => return Err(JoseError::BadKey("kty does not match alg")),
        };
        Ok(Self {
            alg,
            kid: jwk.kid.clone(),
            public,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key verifies.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// Verifies a compact JWS whose header was already read with [`header`]; returns the
    /// payload bytes. The header's `alg` must be this key's one algorithm. A `jwk` header
    /// plays no part: the key is this one (RFC 8725 §3.10).
    pub fn verify(&self, token: &str, header: &Header) -> Result<Vec<u8>, JoseError> {
        if header.alg != self.alg.as_str() {
            return Err(JoseError::AlgorithmMismatch);
        }
        let (signing_input, sig_b64) = token.rsplit_once('.').ok_or(JoseError::Malformed)?;
        let (_, payload_b64) = signing_input.split_once('.').ok_or(JoseError::Malformed)?;
        let sig = B64.decode(sig_b64).map_err(|_| JoseError::Malformed)?;
        let ok = match &self.public {
            Public::Unparsed(key) => key.verify(signing_input.as_bytes(), &sig).is_ok(),
            Public::Rsa(parts) => {
                let padding = match self.alg {
                    Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                    _ => &signature::RSA_PKCS1_2048_8192_SHA256,
                };
                parts
                    .verify(padding, signing_input.as_bytes(), &sig)
                    .is_ok()
            }
        };
        if !ok {
            return Err(JoseError::BadSignature);
        }
        B64.decode(payload_b64).map_err(|_| JoseError::Malformed)
    }
}

/// A base64url JWK member's bytes (RFC 7518 §6: unpadded, RFC 7515 §2).
fn b64_member(v: &Option<String>) -> Result<Vec<u8>, JoseError> {
    B64.decode(v.as_deref().ok_or(JoseError::BadKey("missing member"))?)
        .map_err(|_| JoseError::BadKey("bad base64"))
}

/// An RSA public key's `n` and `e` (RFC 7518 §6.3.1), the modulus 2048 to 8192 bits long.
fn rsa_components(jwk: &Jwk) -> Result<PublicKeyComponents<Vec<u8>>, JoseError> {
    let n = b64_member(&jwk.n)?;
    let e = b64_member(&jwk.e)?;
    let bits = bit_length(&n);
    if bits < RSA_MIN_BITS {
        return Err(JoseError::BadKey("RSA key shorter than 2048 bits"));
    }
    if bits > RSA_MAX_BITS {
        return Err(JoseError::BadKey("RSA key longer than 8192 bits"));
    }
    if e.iter().all(|&b| b == 0) {
        return Err(JoseError::BadKey("bad RSA exponent"));
    }
    Ok(PublicKeyComponents { n, e })
}

/// The bit length of a big-endian unsigned integer (leading zero bytes allowed).
fn bit_length(be: &[u8]) -> usize {
    match be.iter().position(|&b| b != 0) {
        Some(i) => (be.len() - i - 1) * 8 + (8 - be[i].leading_zeros() as usize),
        None => 0,
    }
}

/// The protected header members Valet reads. Anything else is ignored, which is how
/// `jku`, `x5u` and `x5c` are never trusted; a `crit` header is refused (RFC 7515
/// §4.1.11: Valet understands no extensions). A `jwk` header (RFC 7515 §4.1.3) is kept
/// but only [`verify_embedded_jwk`] looks at it: [`VerifyingKey::verify`] and
/// [`KeySet::find`] never take a key from the token they check (RFC 8725 §3.10).
#[derive(Clone, Deserialize)]
pub struct Header {
    pub alg: String,
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
    #[serde(default)]
    jwk: Option<serde_json::Value>,
}

/// Shows whether a `jwk` was sent, not what: a careless client may have sent its private
/// key, which is not for logs.
impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("alg", &self.alg)
            .field("typ", &self.typ)
            .field("kid", &self.kid)
            .field("crit", &self.crit)
            .field("jwk", &self.jwk.as_ref().map(|_| "[not shown]"))
            .finish()
    }
}

impl Header {
    /// The `jwk` header member as sent, untrusted: for protocols that carry their key in
    /// the token, like DPoP (RFC 9449 §4.2); see [`verify_embedded_jwk`].
    pub fn jwk(&self) -> Option<&serde_json::Value> {
        self.jwk.as_ref()
    }
}

/// Reads the header of a compact JWS without trusting anything in it yet.
pub fn header(token: &str) -> Result<Header, JoseError> {
    if token.len() > MAX_TOKEN_LEN || token.split('.').count() != 3 {
        return Err(JoseError::Malformed);
    }
    let (h, _) = token.split_once('.').ok_or(JoseError::Malformed)?;
    let bytes = B64.decode(h).map_err(|_| JoseError::Malformed)?;
    let header: Header = serde_json::from_slice(&bytes).map_err(|_| JoseError::Malformed)?;
    if header.crit.is_some() {
        return Err(JoseError::Malformed);
    }
    Ok(header)
}

/// The payload of a compact JWS, **not verified**: only for choosing which party's keys to
/// verify it with (a JWT bearer assertion names its issuer in `iss`, RFC 7523 §3 item 1).
/// Nothing read here may be trusted until [`VerifyingKey::verify`] returns the same bytes.
pub fn unverified_payload(token: &str) -> Result<Vec<u8>, JoseError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JoseError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(_), Some(p), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JoseError::Malformed);
    };
    B64.decode(p).map_err(|_| JoseError::Malformed)
}

#[cfg(test)]
mod tests;
