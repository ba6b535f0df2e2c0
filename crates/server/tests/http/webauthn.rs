//! A WebAuthn authenticator for the HTTP tests, written from the specification rather
//! than from the server's library: it reads the options a page carries, makes an ES256
//! (P-256) credential with `none` attestation (WebAuthn §6.5.4, §8.7), and answers
//! registration and authentication ceremonies with the JSON a browser's script posts.
//! Each answer can be spoiled on purpose (another origin, no user verification, a broken
//! signature, another user handle) to see the server refuse it. The real browser with
//! Chrome's virtual authenticator is `tests/browser/passkeys.mjs`.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const BS: u8 = 0x10;
const AT: u8 = 0x40;

pub struct Authenticator {
    key: EcdsaKeyPair,
    pub cred_id: Vec<u8>,
    /// The user handle the registration gave it (a discoverable credential keeps it).
    pub user_handle: Option<Vec<u8>>,
    /// The origin its browser is on.
    pub origin: String,
    pub counter: u32,
    /// Whether it says it can be synced (backup eligible and backed up).
    pub synced: bool,
}

/// Ways to spoil an answer.
#[derive(Default, Clone)]
pub struct Spoil {
    pub origin: Option<String>,
    pub rp_id: Option<String>,
    pub no_user_verification: bool,
    pub bad_signature: bool,
    pub user_handle: Option<Vec<u8>>,
    pub challenge: Option<String>,
}

impl Authenticator {
    pub fn new(origin: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let mut cred_id = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut cred_id).unwrap();
        Self {
            key,
            cred_id,
            user_handle: None,
            origin: origin.to_owned(),
            counter: 0,
            synced: false,
        }
    }

    pub fn cred_id_b64(&self) -> String {
        B64.encode(&self.cred_id)
    }

    /// `navigator.credentials.create` for `options` (the page's JSON).
    pub fn register(&mut self, options: &str) -> String {
        self.register_spoiled(options, &Spoil::default())
    }

    pub fn register_spoiled(&mut self, options: &str, spoil: &Spoil) -> String {
        let o: Value = serde_json::from_str(options).unwrap();
        let pk = &o["publicKey"];
        let rp_id = spoil
            .rp_id
            .clone()
            .unwrap_or_else(|| pk["rp"]["id"].as_str().unwrap().to_owned());
        self.user_handle = Some(B64.decode(pk["user"]["id"].as_str().unwrap()).unwrap());
        let client_data = self.client_data("webauthn.create", pk, spoil);
        let point = self.key.public_key().as_ref(); // 0x04 | x | y
        let cose = cbor_map(vec![
            (cbor_uint(1), cbor_uint(2)), // kty: EC2
            (cbor_uint(3), cbor_neg(-7)), // alg: ES256
            (cbor_neg(-1), cbor_uint(1)), // crv: P-256
            (cbor_neg(-2), cbor_bytes(&point[1..33])),
            (cbor_neg(-3), cbor_bytes(&point[33..65])),
        ]);
        let mut auth_data = self.auth_data(&rp_id, AT, spoil);
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID: none
        auth_data.extend_from_slice(&(self.cred_id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&self.cred_id);
        auth_data.extend_from_slice(&cose);
        let attestation = cbor_map(vec![
            (cbor_text("fmt"), cbor_text("none")),
            (cbor_text("attStmt"), cbor_map(vec![])),
            (cbor_text("authData"), cbor_bytes(&auth_data)),
        ]);
        json!({
            "id": self.cred_id_b64(),
            "rawId": self.cred_id_b64(),
            "type": "public-key",
            "response": {
                "attestationObject": B64.encode(attestation),
                "clientDataJSON": B64.encode(client_data),
                "transports": ["internal"],
            },
            "extensions": {},
        })
        .to_string()
    }

    /// `navigator.credentials.get` for `options` (the page's JSON).
    pub fn assert(&mut self, options: &str) -> String {
        self.assert_spoiled(options, &Spoil::default())
    }

    pub fn assert_spoiled(&mut self, options: &str, spoil: &Spoil) -> String {
        let o: Value = serde_json::from_str(options).unwrap();
        let pk = &o["publicKey"];
        let rp_id = spoil
            .rp_id
            .clone()
            .unwrap_or_else(|| pk["rpId"].as_str().unwrap().to_owned());
        self.counter += 1;
        let client_data = self.client_data("webauthn.get", pk, spoil);
        let auth_data = self.auth_data(&rp_id, 0, spoil);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &client_data).as_ref(),
        );
        let mut signature = self
            .key
            .sign(&SystemRandom::new(), &signed)
            .unwrap()
            .as_ref()
            .to_vec();
        if spoil.bad_signature {
            let last = signature.len() - 1;
            signature[last] ^= 1;
        }
        let handle = spoil
            .user_handle
            .clone()
            .or_else(|| self.user_handle.clone());
        json!({
            "id": self.cred_id_b64(),
            "rawId": self.cred_id_b64(),
            "type": "public-key",
            "response": {
                "authenticatorData": B64.encode(auth_data),
                "clientDataJSON": B64.encode(client_data),
                "signature": B64.encode(signature),
                "userHandle": handle.map(|h| B64.encode(h)),
            },
            "extensions": {},
        })
        .to_string()
    }

    fn client_data(&self, kind: &str, pk: &Value, spoil: &Spoil) -> Vec<u8> {
        let challenge = spoil
            .challenge
            .clone()
            .unwrap_or_else(|| pk["challenge"].as_str().unwrap().to_owned());
        json!({
            "type": kind,
            "challenge": challenge,
            "origin": spoil.origin.clone().unwrap_or_else(|| self.origin.clone()),
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    fn auth_data(&self, rp_id: &str, extra: u8, spoil: &Spoil) -> Vec<u8> {
        let mut flags = UP | extra;
        if !spoil.no_user_verification {
            flags |= UV;
        }
        if self.synced {
            flags |= BE | BS;
        }
        let mut d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, rp_id.as_bytes())
            .as_ref()
            .to_vec();
        d.push(flags);
        d.extend_from_slice(&self.counter.to_be_bytes());
        d
    }
}

// The few CBOR items (RFC 8949 §3) an attestation object needs.
fn cbor_head(major: u8, n: u64) -> Vec<u8> {
    let m = major << 5;
    match n {
        0..=23 => vec![m | n as u8],
        24..=0xff => vec![m | 24, n as u8],
        0x100..=0xffff => {
            let mut v = vec![m | 25];
            v.extend_from_slice(&(n as u16).to_be_bytes());
            v
        }
        _ => {
            let mut v = vec![m | 26];
            v.extend_from_slice(&(n as u32).to_be_bytes());
            v
        }
    }
}

fn cbor_uint(n: u64) -> Vec<u8> {
    cbor_head(0, n)
}

fn cbor_neg(n: i64) -> Vec<u8> {
    cbor_head(1, (-1 - n) as u64)
}

fn cbor_bytes(b: &[u8]) -> Vec<u8> {
    let mut v = cbor_head(2, b.len() as u64);
    v.extend_from_slice(b);
    v
}

fn cbor_text(s: &str) -> Vec<u8> {
    let mut v = cbor_head(3, s.len() as u64);
    v.extend_from_slice(s.as_bytes());
    v
}

fn cbor_map(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<u8> {
    let mut v = cbor_head(5, entries.len() as u64);
    for (k, val) in entries {
        v.extend(k);
        v.extend(val);
    }
    v
}

#[test]
fn cbor_heads() {
    assert_eq!(cbor_uint(10), [0x0a]);
    assert_eq!(cbor_uint(500), [0x19, 0x01, 0xf4]);
    assert_eq!(cbor_neg(-7), [0x26]);
    assert_eq!(cbor_text("fmt"), [0x63, b'f', b'm', b't']);
    assert_eq!(cbor_map(vec![]), [0xa0]);
}
