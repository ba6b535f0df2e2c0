//! An application's key pair of the tests' own, and the JWTs it signs through
//! `jsonwebtoken` (a JOSE implementation nobody here wrote): client assertions (RFC 7523
//! §2.2), request objects (RFC 9101) and DPoP proofs (RFC 9449 §4). The RFC 7638
//! thumbprint is computed here too, not with Valet's code.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A fresh `jti`.
pub fn jti() -> String {
    format!(
        "jti-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub struct ClientKey {
    pub alg: Algorithm,
    pub kid: String,
    key: EncodingKey,
    /// The public JWK, with `kid` and `alg`.
    pub public: Value,
}

impl ClientKey {
    /// A P-256 key for ES256.
    pub fn es256(kid: &str) -> Self {
        let der = EcdsaKeyPair::generate_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &SystemRandom::new(),
        )
        .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der.as_ref())
                .unwrap();
        let point = pair.public_key().as_ref();
        let public = json!({"kty": "EC", "crv": "P-256", "x": B64.encode(&point[1..33]),
            "y": B64.encode(&point[33..65]), "kid": kid, "alg": "ES256", "use": "sig"});
        Self {
            alg: Algorithm::ES256,
            kid: kid.into(),
            key: EncodingKey::from_ec_der(der.as_ref()),
            public,
        }
    }

    /// An Ed25519 key for EdDSA.
    pub fn ed25519(kid: &str) -> Self {
        let der = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(der.as_ref()).unwrap();
        let public = json!({"kty": "OKP", "crv": "Ed25519",
            "x": B64.encode(pair.public_key().as_ref()), "kid": kid, "alg": "EdDSA"});
        Self {
            alg: Algorithm::EdDSA,
            kid: kid.into(),
            key: EncodingKey::from_ed_der(der.as_ref()),
            public,
        }
    }

    /// `{"keys": [public]}`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.public] })
    }

    /// The public JWK without `kid`, `alg` and `use`, as a DPoP header carries it.
    pub fn bare_jwk(&self) -> Value {
        let mut k = self.public.clone();
        for m in ["kid", "alg", "use"] {
            k.as_object_mut().unwrap().remove(m);
        }
        k
    }

    /// RFC 7638 §3: SHA-256 of the required members in lexicographic order.
    pub fn thumbprint(&self) -> String {
        let p = &self.public;
        let canonical = match p["kty"].as_str().unwrap() {
            "EC" => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                p["crv"].as_str().unwrap(),
                p["x"].as_str().unwrap(),
                p["y"].as_str().unwrap()
            ),
            _ => format!(
                r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
                p["crv"].as_str().unwrap(),
                p["x"].as_str().unwrap()
            ),
        };
        B64.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            canonical.as_bytes(),
        ))
    }

    /// `claims` signed with this key, its `kid` in the header.
    pub fn sign(&self, typ: Option<&str>, claims: &Value) -> String {
        let mut h = Header::new(self.alg);
        h.kid = Some(self.kid.clone());
        h.typ = typ.map(str::to_owned);
        jsonwebtoken::encode(&h, claims, &self.key).unwrap()
    }

    /// An RFC 7523 client assertion of `client_id` for `aud`.
    pub fn assertion(&self, client_id: &str, aud: &str, now: i64) -> String {
        self.sign(
            Some("JWT"),
            &json!({"iss": client_id, "sub": client_id, "aud": aud, "iat": now,
                "exp": now + 60, "jti": jti()}),
        )
    }

    /// The form fields of a client assertion.
    pub fn assertion_form(&self, client_id: &str, aud: &str, now: i64) -> String {
        format!(
            "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer\
             &client_assertion={}",
            self.assertion(client_id, aud, now)
        )
    }

    /// A DPoP proof (RFC 9449 §4.2) for `htm` `htu`, with `ath` of `token` when given.
    pub fn dpop(&self, htm: &str, htu: &str, now: i64, token: Option<&str>) -> String {
        let mut claims = json!({"jti": jti(), "htm": htm, "htu": htu, "iat": now});
        if let Some(t) = token {
            claims["ath"] = B64
                .encode(aws_lc_rs::digest::digest(
                    &aws_lc_rs::digest::SHA256,
                    t.as_bytes(),
                ))
                .into();
        }
        self.dpop_with(&claims)
    }

    /// A DPoP proof with exactly these claims.
    pub fn dpop_with(&self, claims: &Value) -> String {
        let mut h = Header::new(self.alg);
        h.typ = Some("dpop+jwt".into());
        h.jwk = Some(serde_json::from_value(self.bare_jwk()).unwrap());
        jsonwebtoken::encode(&h, claims, &self.key).unwrap()
    }
}

/// The claims of a JWT, unverified (the tests verify signatures where that is the point).
pub fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}
