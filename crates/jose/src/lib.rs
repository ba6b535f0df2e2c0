//! The JWS subset Valet needs (RFC 7515 compact serialization, RFC 7517 JWK, RFC 7518
//! ES256 and RS256) over aws-lc-rs. Each private key is parsed once and kept parsed, so a
//! signature costs only the signature. Verification pins each key to exactly one
//! algorithm and treats `kid` as a map key only: `jku`, `x5u`, `jwk` and `x5c` headers are
//! never followed (RFC 8725 §3.1, §3.10).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use std::fmt;

mod keyset;
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

/// The signature algorithms Valet signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    ES256,
    RS256,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(Self::ES256),
            "RS256" => Some(Self::RS256),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A public JWK (RFC 7517 §4; RFC 7518 §6.2, §6.3). Never holds private members.
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
    Rsa(RsaKeyPair),
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

/// Generates a new private key and returns it as PKCS#8 DER.
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
        Algorithm::RS256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| JoseError::BadKey("RSA key generation failed"))?;
            let der = pair
                .as_der()
                .map_err(|_| JoseError::BadKey("RSA key encoding failed"))?;
            Ok(der.as_ref().to_vec())
        }
    }
}

impl SigningKey {
    /// Parses a PKCS#8 private key. The `kid` is the key's RFC 7638 thumbprint, so it is
    /// unique and the same on every node.
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
            Algorithm::RS256 => {
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
        let sig = match &self.private {
            Private::Ec(pair) => pair
                .sign(&self.rng, out.as_bytes())
                .map_err(|_| JoseError::BadSignature)?
                .as_ref()
                .to_vec(),
            Private::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &self.rng,
                    out.as_bytes(),
                    &mut sig,
                )
                .map_err(|_| JoseError::BadSignature)?;
                sig
            }
        };
        out.push('.');
        B64.encode_string(&sig, &mut out);
        Ok(out)
    }
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url).
fn thumbprint(jwk: &Jwk) -> String {
    let canonical = match jwk.kty.as_str() {
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk.crv.as_deref().unwrap_or(""),
            jwk.x.as_deref().unwrap_or(""),
            jwk.y.as_deref().unwrap_or("")
        ),
        _ => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            jwk.e.as_deref().unwrap_or(""),
            jwk.n.as_deref().unwrap_or("")
        ),
    };
    B64.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        canonical.as_bytes(),
    ))
}

enum Public {
    Ec(UnparsedPublicKey<Vec<u8>>),
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

impl VerifyingKey {
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, JoseError> {
        let alg = Algorithm::parse(&jwk.alg).ok_or(JoseError::BadKey("unsupported alg"))?;
        let b = |v: &Option<String>| -> Result<Vec<u8>, JoseError> {
            B64.decode(v.as_deref().ok_or(JoseError::BadKey("missing member"))?)
                .map_err(|_| JoseError::BadKey("bad base64"))
        };
        let public = match (alg, jwk.kty.as_str()) {
            (Algorithm::ES256, "EC") if jwk.crv.as_deref() == Some("P-256") => {
                let mut point = vec![4u8];
                point.extend(b(&jwk.x)?);
                point.extend(b(&jwk.y)?);
                if point.len() != 65 {
                    return Err(JoseError::BadKey("bad P-256 point"));
                }
                Public::Ec(UnparsedPublicKey::new(
                    &signature::ECDSA_P256_SHA256_FIXED,
                    point,
                ))
            }
            (Algorithm::RS256, "RSA") => Public::Rsa(PublicKeyComponents {
                n: b(&jwk.n)?,
                e: b(&jwk.e)?,
            }),
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
    /// payload bytes. The header's `alg` must be this key's one algorithm.
    pub fn verify(&self, token: &str, header: &Header) -> Result<Vec<u8>, JoseError> {
        if header.alg != self.alg.as_str() {
            return Err(JoseError::AlgorithmMismatch);
        }
        let (signing_input, sig_b64) = token.rsplit_once('.').ok_or(JoseError::Malformed)?;
        let (_, payload_b64) = signing_input.split_once('.').ok_or(JoseError::Malformed)?;
        let sig = B64.decode(sig_b64).map_err(|_| JoseError::Malformed)?;
        let ok = match &self.public {
            Public::Ec(key) => key.verify(signing_input.as_bytes(), &sig).is_ok(),
            Public::Rsa(parts) => parts
                .verify(
                    &signature::RSA_PKCS1_2048_8192_SHA256,
                    signing_input.as_bytes(),
                    &sig,
                )
                .is_ok(),
        };
        if !ok {
            return Err(JoseError::BadSignature);
        }
        B64.decode(payload_b64).map_err(|_| JoseError::Malformed)
    }
}

/// The protected header members Valet reads. Anything else is ignored, which is how
/// `jku`, `x5u`, `jwk` and `x5c` are never trusted; a `crit` header is refused
/// (RFC 7515 §4.1.11: Valet understands no extensions).
#[derive(Debug, Clone, Deserialize)]
pub struct Header {
    pub alg: String,
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
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

#[cfg(test)]
mod tests;
