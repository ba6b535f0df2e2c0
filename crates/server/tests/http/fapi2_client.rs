//! A FAPI 2.0 client of the tests' own, the part of the OIDF suite's `AbstractFAPI2SP
//! FinalServerTestModule` that is a client: key pairs (ES256, EdDSA, PS256) made with
//! aws-lc-rs, their public JWKs and RFC 7638 thumbprints computed here, JWTs (client
//! assertions, DPoP proofs, request objects) signed by `jsonwebtoken` over headers and
//! claims this file writes byte for byte, PKCE, and the PAR and token requests. Nothing
//! here calls Valet's own JOSE code: a bug there cannot cancel out a bug here.

use aws_lc_rs::encoding::{AsBigEndian, AsDer};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use aws_lc_rs::{digest, rsa};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use oauth2::reqwest;
use serde_json::{Value, json};

use crate::conformance::random;

/// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` (RFC 7523 §2.2).
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn b64_decode(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

pub(crate) fn sha256_b64(s: &str) -> String {
    b64(digest::digest(&digest::SHA256, s.as_bytes()).as_ref())
}

/// A signing key pair and its public JWK.
pub(crate) struct Key {
    pub(crate) alg: Algorithm,
    pub(crate) kid: String,
    encoding: EncodingKey,
    /// The public members only (`kty`, `crv`, `x`, `y` / `n`, `e`).
    public: Value,
    /// The private scalar of an EC key, to build a JWK that leaks it.
    ec_d: Option<String>,
}

/// The DER element at the start of `der`: (tag, contents, rest).
fn der_next(der: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = der[0];
    let (len, head) = match der[1] {
        n if n < 0x80 => (usize::from(n), 2),
        n => {
            let k = usize::from(n & 0x7f);
            let len = der[2..2 + k]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, 2 + k)
        }
    };
    (tag, &der[head..head + len], &der[head + len..])
}

fn unsigned(int: &[u8]) -> &[u8] {
    let mut i = int;
    while i.len() > 1 && i[0] == 0 {
        i = &i[1..];
    }
    i
}

impl Key {
    pub(crate) fn es256() -> Self {
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let doc = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, doc.as_ref()).unwrap();
        let point = pair.public_key().as_ref();
        assert_eq!(point.len(), 65, "an uncompressed P-256 point");
        let d = pair.private_key().as_be_bytes().unwrap();
        Self {
            alg: Algorithm::ES256,
            kid: random(12),
            encoding: EncodingKey::from_ec_der(doc.as_ref()),
            public: json!({
                "kty": "EC", "crv": "P-256",
                "x": b64(&point[1..33]), "y": b64(&point[33..]),
            }),
            ec_d: Some(b64(d.as_ref())),
        }
    }

    pub(crate) fn eddsa() -> Self {
        let doc = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(doc.as_ref()).unwrap();
        Self {
            alg: Algorithm::EdDSA,
            kid: random(12),
            encoding: EncodingKey::from_ed_der(doc.as_ref()),
            public: json!({
                "kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref()),
            }),
            ec_d: None,
        }
    }

    /// A 2048-bit RSA key used with PS256 (or, to be refused, RS256).
    pub(crate) fn rsa(alg: Algorithm) -> Self {
        let pair = rsa::KeyPair::generate(rsa::KeySize::Rsa2048).unwrap();
        let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der = pair.as_der().unwrap();
        // PrivateKeyInfo ::= SEQUENCE { version, algorithm, privateKey OCTET STRING }
        let (_, info, _) = der_next(pkcs8.as_ref());
        let (_, _, rest) = der_next(info);
        let (_, _, rest) = der_next(rest);
        let (tag, pkcs1, _) = der_next(rest);
        assert_eq!(tag, 0x04);
        // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
        let (_, public, _) = der_next(pair.public_key().as_ref());
        let (_, n, rest) = der_next(public);
        let (_, e, _) = der_next(rest);
        Self {
            alg,
            kid: random(12),
            encoding: EncodingKey::from_rsa_der(pkcs1),
            public: json!({"kty": "RSA", "n": b64(unsigned(n)), "e": b64(unsigned(e))}),
            ec_d: None,
        }
    }

    pub(crate) fn alg_name(&self) -> &'static str {
        match self.alg {
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::PS256 => "PS256",
            Algorithm::RS256 => "RS256",
            other => panic!("no such test key: {other:?}"),
        }
    }

    /// The public JWK alone, as a DPoP proof carries it (RFC 9449 §4.2).
    pub(crate) fn public_jwk(&self) -> Value {
        self.public.clone()
    }

    /// The JWK as the client registers it: with `kid`, `use` and `alg`.
    pub(crate) fn registered_jwk(&self) -> Value {
        let mut k = self.public.clone();
        k["kid"] = self.kid.clone().into();
        k["use"] = "sig".into();
        k["alg"] = self.alg_name().into();
        k
    }

    /// The public JWK plus the private scalar: what a DPoP proof must never carry.
    pub(crate) fn jwk_with_private_part(&self) -> Value {
        let mut k = self.public.clone();
        k["d"] = self.ec_d.clone().expect("an EC key").into();
        k
    }

    /// RFC 7638 §3.2: SHA-256 over the required members in lexicographic order, no
    /// whitespace.
    pub(crate) fn thumbprint(&self) -> String {
        let p = &self.public;
        let s = |m: &str| p[m].as_str().unwrap().to_owned();
        let canonical = match p["kty"].as_str().unwrap() {
            "EC" => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                s("crv"),
                s("x"),
                s("y")
            ),
            "OKP" => format!(r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#, s("crv"), s("x")),
            "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e"), s("n")),
            other => panic!("{other}"),
        };
        sha256_b64(&canonical)
    }

    /// A JWS of exactly this header and these claims, signed with this key by the
    /// header's own `alg` (which may differ from the key's, to test refusals).
    pub(crate) fn sign_raw(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(&serde_json::to_vec(header).unwrap()),
            b64(&serde_json::to_vec(claims).unwrap())
        );
        let alg = match header["alg"].as_str() {
            Some("RS256") => Algorithm::RS256,
            Some("PS256") => Algorithm::PS256,
            _ => self.alg,
        };
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, alg).unwrap();
        format!("{input}.{sig}")
    }

    /// A JWT with `typ` and this key's `alg` and `kid`.
    pub(crate) fn sign(&self, typ: &str, claims: &Value) -> String {
        let header = json!({"alg": self.alg_name(), "typ": typ, "kid": self.kid});
        self.sign_raw(&header, claims)
    }

    /// The header of a DPoP proof (RFC 9449 §4.2).
    pub(crate) fn dpop_header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg_name(), "jwk": self.public_jwk()})
    }

    /// A DPoP proof for `htm` `htu` at `now`, with `ath` for an access token and the
    /// server's `nonce` if given.
    pub(crate) fn dpop(
        &self,
        htm: &str,
        htu: &str,
        now: i64,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        self.sign_raw(
            &self.dpop_header(),
            &dpop_claims(htm, htu, now, access_token, nonce),
        )
    }
}

/// The claims of a DPoP proof (RFC 9449 §4.2): `jti`, `htm`, `htu`, `iat`, and `ath`
/// (§4.2, base64url SHA-256 of the token) and `nonce` (§8) when given.
pub(crate) fn dpop_claims(
    htm: &str,
    htu: &str,
    now: i64,
    access_token: Option<&str>,
    nonce: Option<&str>,
) -> Value {
    let mut c = json!({"jti": random(20), "htm": htm, "htu": htu, "iat": now});
    if let Some(t) = access_token {
        c["ath"] = sha256_b64(t).into();
    }
    if let Some(n) = nonce {
        c["nonce"] = n.into();
    }
    c
}

/// PKCE (RFC 7636 §4.1, §4.2): a 64-character verifier and its S256 challenge.
pub(crate) fn pkce() -> (String, String) {
    let verifier = random(64);
    let challenge = sha256_b64(&verifier);
    (verifier, challenge)
}

/// A registered FAPI 2.0 client: its `client_id`, the key it authenticates with, and the
/// key its DPoP proofs are signed with (a different one, as the suite uses).
pub(crate) struct FapiClient {
    pub(crate) id: String,
    pub(crate) key: Key,
    pub(crate) dpop: Key,
    /// The authorization server's issuer: the audience of assertions.
    pub(crate) issuer: String,
}

impl FapiClient {
    /// RFC 7523 §3 claims of a client assertion for the issuer at `now`
    /// (`CreateClientAuthenticationAssertionClaimsWithIssAudience`).
    pub(crate) fn assertion_claims(&self, now: i64) -> Value {
        json!({
            "iss": self.id, "sub": self.id, "aud": self.issuer,
            "jti": random(20), "iat": now, "exp": now + 60,
        })
    }

    pub(crate) fn assertion_of(&self, claims: &Value) -> String {
        self.key.sign("JWT", claims)
    }

    pub(crate) fn assertion(&self, now: i64) -> String {
        self.assertion_of(&self.assertion_claims(now))
    }

    /// The form parameters of client authentication with this assertion.
    pub(crate) fn auth_form(&self, assertion: String) -> Vec<(String, String)> {
        vec![
            ("client_id".into(), self.id.clone()),
            ("client_assertion_type".into(), JWT_BEARER.into()),
            ("client_assertion".into(), assertion),
        ]
    }
}

/// POSTs a form (with an optional `DPoP` header) the way the suite's `CallTokenEndpoint`
/// and `CallPAREndpoint` do.
pub(crate) async fn post_form(
    http: &reqwest::Client,
    url: &str,
    form: &[(String, String)],
    dpop: Option<&str>,
) -> reqwest::Response {
    let mut rb = http.post(url).form(form);
    if let Some(p) = dpop {
        rb = rb.header("DPoP", p);
    }
    rb.send().await.unwrap()
}

/// The claims of a JWT, unverified (to read what a token carries).
pub(crate) fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}
