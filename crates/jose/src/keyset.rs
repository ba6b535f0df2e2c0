//! A JWK Set as an issuer publishes it (RFC 7517 §5), parsed once into verifying keys:
//! Valet's own (every key with `kid`, `use` and `alg`) and other issuers' — an upstream
//! identity provider's JWKS may leave out `use` (then the key is taken for signatures),
//! `alg` (then the key type decides: RSA is RS256, EC P-256 is ES256, each key pinned to
//! that one algorithm) or even `kid`. A key that cannot be parsed, is for encryption, or
//! is of an algorithm this crate does not verify is skipped; a `kid` published twice names
//! no key at all (which one would be meant?).

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::{Algorithm, Header, JoseError, Jwk, VerifyingKey};

/// Most keys one set may hold: a JWKS is fetched from elsewhere, so it is bounded.
pub const MAX_KEYS: usize = 64;

/// The verifying keys of one JWK Set, by `kid`, and those published without one.
#[derive(Debug, Default)]
pub struct KeySet {
    named: HashMap<String, Arc<VerifyingKey>>,
    unnamed: Vec<Arc<VerifyingKey>>,
}

#[derive(Deserialize)]
struct Set {
    keys: Vec<serde_json::Value>,
}

/// One JWK of any issuer: only `kty` is required (RFC 7517 §4.1).
#[derive(Deserialize)]
struct AnyJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    key_ops: Option<Vec<String>>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

impl KeySet {
    /// Parses a JWK Set document. Only a document that is not a JWK Set at all is an
    /// error; keys this crate cannot use are left out.
    pub fn parse(json: &[u8]) -> Result<Self, JoseError> {
        let set: Set = serde_json::from_slice(json).map_err(|_| JoseError::Malformed)?;
        let mut out = Self::default();
        let mut twice = Vec::new();
        for value in set.keys.into_iter().take(MAX_KEYS) {
            let Ok(jwk) = serde_json::from_value::<AnyJwk>(value) else {
                continue;
            };
            let Some(key) = jwk.verifying_key() else {
                continue;
            };
            match jwk.kid {
                Some(kid) => {
                    if out.named.insert(kid.clone(), Arc::new(key)).is_some() {
                        twice.push(kid);
                    }
                }
                None => out.unnamed.push(Arc::new(key)),
            }
        }
        for kid in twice {
            out.named.remove(&kid);
        }
        Ok(out)
    }

    /// The key a token with `header` names: by its `kid`; a token without one is tried
    /// only when exactly one key of its algorithm is published without a `kid` (or, the
    /// set having no unnamed keys, exactly one key of that algorithm in all).
    pub fn find(&self, header: &Header) -> Option<Arc<VerifyingKey>> {
        match &header.kid {
            Some(kid) => self.named.get(kid).cloned(),
            None => {
                let of_alg = |k: &&Arc<VerifyingKey>| k.alg.as_str() == header.alg;
                let pool: Vec<&Arc<VerifyingKey>> = if self.unnamed.is_empty() {
                    self.named.values().filter(of_alg).collect()
                } else {
                    self.unnamed.iter().filter(of_alg).collect()
                };
                match pool.as_slice() {
                    [one] => Some((*one).clone()),
                    _ => None,
                }
            }
        }
    }

    /// The key published as `kid`.
    pub fn get(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        self.named.get(kid).cloned()
    }

    /// Whether a key named `kid` was published.
    pub fn contains(&self, kid: &str) -> bool {
        self.named.contains_key(kid)
    }

    pub fn is_empty(&self) -> bool {
        self.named.is_empty() && self.unnamed.is_empty()
    }

    pub fn len(&self) -> usize {
        self.named.len() + self.unnamed.len()
    }
}

impl AnyJwk {
    fn verifying_key(&self) -> Option<VerifyingKey> {
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return None;
        }
        if let Some(ops) = &self.key_ops {
            if !ops.iter().any(|o| o == "verify") {
                return None;
            }
        }
        // The key type decides when `alg` is absent; a named alg must be one we verify.
        let alg = match (&self.alg, self.kty.as_str(), self.crv.as_deref()) {
            (Some(a), _, _) => Algorithm::parse(a)?,
            (None, "RSA", _) => Algorithm::RS256,
            (None, "EC", Some("P-256")) => Algorithm::ES256,
            _ => return None,
        };
        VerifyingKey::from_jwk(&Jwk {
            kty: self.kty.clone(),
            kid: self.kid.clone().unwrap_or_default(),
            alg: alg.as_str().to_owned(),
            use_: "sig".to_owned(),
            crv: self.crv.clone(),
            x: self.x.clone(),
            y: self.y.clone(),
            n: self.n.clone(),
            e: self.e.clone(),
        })
        .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SigningKey, generate_pkcs8, header};

    fn key(alg: Algorithm) -> SigningKey {
        SigningKey::from_pkcs8(alg, &generate_pkcs8(alg).unwrap()).unwrap()
    }

    fn public(k: &SigningKey) -> serde_json::Value {
        serde_json::to_value(k.jwk()).unwrap()
    }

    #[test]
    fn finds_keys_by_kid_and_pins_each_to_its_alg() {
        let (es, rs) = (key(Algorithm::ES256), key(Algorithm::RS256));
        let set = serde_json::json!({ "keys": [public(&es), public(&rs)] });
        let keys = KeySet::parse(set.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 2);
        let token = rs.sign("JWT", &serde_json::json!({"a": 1})).unwrap();
        let h = header(&token).unwrap();
        assert!(keys.find(&h).unwrap().verify(&token, &h).is_ok());
        // The RS256 key's kid with an ES256 header: the key is pinned to RS256.
        let forged = Header {
            alg: "ES256".into(),
            ..h.clone()
        };
        assert_eq!(
            keys.find(&forged).unwrap().verify(&token, &forged),
            Err(JoseError::AlgorithmMismatch)
        );
    }

    #[test]
    fn foreign_keys_without_use_alg_or_kid() {
        let rs = key(Algorithm::RS256);
        let mut jwk = public(&rs);
        let obj = jwk.as_object_mut().unwrap();
        obj.remove("use");
        obj.remove("alg");
        obj.remove("kid");
        let keys =
            KeySet::parse(serde_json::json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap();
        let token = rs.sign("JWT", &serde_json::json!({"a": 1})).unwrap();
        let mut h = header(&token).unwrap();
        h.kid = None;
        assert!(keys.find(&h).unwrap().verify(&token, &h).is_ok());
        // No HMAC with the public key, whatever the header says.
        let hs = Header {
            alg: "HS256".into(),
            ..h.clone()
        };
        assert!(keys.find(&hs).is_none());
    }

    #[test]
    fn encryption_keys_unknown_algs_and_twice_published_kids_are_left_out() {
        let (a, b) = (key(Algorithm::ES256), key(Algorithm::ES256));
        let mut enc = public(&a);
        enc["use"] = "enc".into();
        enc["kid"] = "enc".into();
        // Algorithms this crate does not verify, for keys of types it knows.
        let mut es512 = public(&key(Algorithm::ES256));
        es512["alg"] = "ES512".into();
        let mut hs = public(&key(Algorithm::RS256));
        hs["alg"] = "HS256".into();
        let mut dup1 = public(&a);
        dup1["kid"] = "same".into();
        let mut dup2 = public(&b);
        dup2["kid"] = "same".into();
        let mut ops = public(&key(Algorithm::EdDSA));
        ops["key_ops"] = serde_json::json!(["sign"]);
        let short = serde_json::json!({"kty": "RSA", "n": "wQ", "e": "AQAB"});
        let set = serde_json::json!({ "keys": [
            enc, es512, hs, ops, short, dup1, dup2, {"kty": "oct", "k": "AAAA"}
        ] });
        let keys = KeySet::parse(set.to_string().as_bytes()).unwrap();
        assert!(keys.is_empty(), "{keys:?}");
        assert!(KeySet::parse(b"{\"nokeys\": 1}").is_err());
        assert!(KeySet::parse(b"not json").is_err());
    }
}
