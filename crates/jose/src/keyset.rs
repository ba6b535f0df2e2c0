//! A JWK Set as another party publishes it (RFC 7517 §5), parsed once into verifying
//! keys: Valet's own (every key with `kid`, `use` and `alg`), an upstream identity
//! provider's, an OAuth client's registered keys (RFC 7523 `private_key_jwt`). Such a set
//! may leave out `use` (then the key is taken for signatures) or even `kid`. A key that
//! names `alg` is pinned to exactly that algorithm. A key without `alg` may be used with
//! each algorithm of its key type this crate implements (RFC 7517 §4.4 leaves the choice
//! to the application): RSA with RS256 or PS256, EC P-256 with ES256, OKP Ed25519 with
//! EdDSA — never HMAC, never `none`. [`KeySet::find`] hands out a key only for the
//! algorithm the token's header names, and each [`VerifyingKey`] it hands out is pinned
//! to that one algorithm. A key that cannot be parsed, is for encryption (`use` `enc`, or
//! `key_ops` without `verify`), or names an algorithm this crate does not verify is
//! skipped; a `kid` published twice names no key at all (which one would be meant?).

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::{Algorithm, Header, JoseError, Jwk, VerifyingKey};

/// Most keys one set may hold: a JWKS is fetched from elsewhere, so it is bounded.
pub const MAX_KEYS: usize = 64;

/// The verifying keys of one JWK Set, by `kid`, and those published without one.
#[derive(Debug, Default)]
pub struct KeySet {
    named: HashMap<String, Published>,
    unnamed: Vec<Published>,
}

/// One published JWK as verifying keys, one per algorithm it may be used with: exactly
/// one when the JWK names its `alg`, the first being the one [`KeySet::get`] answers.
#[derive(Debug)]
struct Published(Vec<Arc<VerifyingKey>>);

impl Published {
    fn for_alg(&self, alg: &str) -> Option<&Arc<VerifyingKey>> {
        self.0.iter().find(|k| k.alg.as_str() == alg)
    }
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
            let keys = jwk.verifying_keys();
            if keys.is_empty() {
                continue;
            }
            let published = Published(keys.into_iter().map(Arc::new).collect());
            match jwk.kid {
                Some(kid) => {
                    if out.named.insert(kid.clone(), published).is_some() {
                        twice.push(kid);
                    }
                }
                None => out.unnamed.push(published),
            }
        }
        for kid in twice {
            out.named.remove(&kid);
        }
        Ok(out)
    }

    /// The key a token with `header` names, pinned to the header's `alg`: by its `kid`, if
    /// that key may be used with that algorithm; a token without a `kid` is tried only
    /// when exactly one key usable with its algorithm is published without a `kid` (or,
    /// the set having no unnamed keys, exactly one such key in all). A `jwk`, `jku`,
    /// `x5u` or `x5c` header is never looked at (RFC 8725 §3.10).
    pub fn find(&self, header: &Header) -> Option<Arc<VerifyingKey>> {
        let alg = header.alg.as_str();
        if let Some(kid) = &header.kid {
            return self.named.get(kid)?.for_alg(alg).cloned();
        }
        let pool: Vec<&Arc<VerifyingKey>> = if self.unnamed.is_empty() {
            self.named.values().filter_map(|p| p.for_alg(alg)).collect()
        } else {
            self.unnamed.iter().filter_map(|p| p.for_alg(alg)).collect()
        };
        match pool.as_slice() {
            [one] => Some((*one).clone()),
            _ => None,
        }
    }

    /// The key published as `kid`, pinned to the algorithm the JWK names; for a JWK that
    /// names none, to the first of its key type's (RS256 for RSA). A token's `alg` may
    /// need another: [`KeySet::find`] picks by it.
    pub fn get(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        self.named.get(kid)?.0.first().cloned()
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
    /// The verifying keys this JWK may be used as, one per algorithm; none if it is not
    /// for signatures or cannot be parsed.
    fn verifying_keys(&self) -> Vec<VerifyingKey> {
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return Vec::new();
        }
        if let Some(ops) = &self.key_ops {
            if !ops.iter().any(|o| o == "verify") {
                return Vec::new();
            }
        }
        self.algorithms()
            .iter()
            .filter_map(|&alg| self.verifying_key(alg))
            .collect()
    }

    /// The algorithms this JWK may be used with: the one it names, if this crate verifies
    /// it; else every one of its key type's.
    fn algorithms(&self) -> Vec<Algorithm> {
        match (&self.alg, self.kty.as_str(), self.crv.as_deref()) {
            (Some(a), _, _) => Algorithm::parse(a).into_iter().collect(),
            (None, "RSA", _) => vec![Algorithm::RS256, Algorithm::PS256],
            (None, "EC", Some("P-256")) => vec![Algorithm::ES256],
            (None, "OKP", Some("Ed25519")) => vec![Algorithm::EdDSA],
            _ => Vec::new(),
        }
    }

    fn verifying_key(&self, alg: Algorithm) -> Option<VerifyingKey> {
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
        // The RS256 key's kid with an ES256 or PS256 header: the key is pinned to RS256,
        // so `find` has no key for it, and the key itself refuses the other algorithm.
        for alg in ["ES256", "PS256"] {
            let forged = Header {
                alg: alg.into(),
                ..h.clone()
            };
            assert!(keys.find(&forged).is_none(), "{alg}");
            assert_eq!(
                keys.get(rs.kid()).unwrap().verify(&token, &forged),
                Err(JoseError::AlgorithmMismatch)
            );
        }
    }

    #[test]
    fn an_rsa_key_without_alg_verifies_rs256_and_ps256_each_by_the_header() {
        let der = generate_pkcs8(Algorithm::RS256).unwrap();
        let rs = SigningKey::from_pkcs8(Algorithm::RS256, &der).unwrap();
        let ps = SigningKey::from_pkcs8(Algorithm::PS256, &der).unwrap();
        let mut jwk = public(&rs);
        jwk.as_object_mut().unwrap().remove("alg");
        let keys =
            KeySet::parse(serde_json::json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 1);
        let (t_rs, t_ps) = (
            rs.sign("JWT", &serde_json::json!({})).unwrap(),
            ps.sign("JWT", &serde_json::json!({})).unwrap(),
        );
        let (h_rs, h_ps) = (header(&t_rs).unwrap(), header(&t_ps).unwrap());
        assert_eq!(h_rs.kid, h_ps.kid);
        let k_rs = keys.find(&h_rs).unwrap();
        let k_ps = keys.find(&h_ps).unwrap();
        assert_eq!(
            (k_rs.alg(), k_ps.alg()),
            (Algorithm::RS256, Algorithm::PS256)
        );
        assert!(k_rs.verify(&t_rs, &h_rs).is_ok());
        assert!(k_ps.verify(&t_ps, &h_ps).is_ok());
        // Each key found stays pinned to the header's algorithm.
        assert_eq!(k_ps.verify(&t_rs, &h_rs), Err(JoseError::AlgorithmMismatch));
        // The RS256 signature relabelled PS256 is no PSS signature.
        let relabelled = format!(
            "{}.{}",
            t_ps.split('.').next().unwrap(),
            t_rs.split_once('.').unwrap().1
        );
        assert_eq!(
            k_ps.verify(&relabelled, &h_ps),
            Err(JoseError::BadSignature)
        );
        // Not with an EC, EdDSA, HMAC or `none` header.
        for alg in ["ES256", "EdDSA", "HS256", "none", "RS512"] {
            let h = Header {
                alg: alg.into(),
                ..h_rs.clone()
            };
            assert!(keys.find(&h).is_none(), "{alg}");
        }
        // `get` answers the first of its key type's algorithms.
        assert_eq!(keys.get(rs.kid()).unwrap().alg(), Algorithm::RS256);
    }

    #[test]
    fn a_key_that_names_ps256_is_pinned_to_it() {
        let der = generate_pkcs8(Algorithm::PS256).unwrap();
        let rs = SigningKey::from_pkcs8(Algorithm::RS256, &der).unwrap();
        let ps = SigningKey::from_pkcs8(Algorithm::PS256, &der).unwrap();
        let keys = KeySet::parse(
            serde_json::json!({ "keys": [public(&ps)] })
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let t = rs.sign("JWT", &serde_json::json!({})).unwrap();
        let h = header(&t).unwrap();
        assert!(keys.find(&h).is_none());
        assert_eq!(
            keys.get(ps.kid()).unwrap().verify(&t, &h),
            Err(JoseError::AlgorithmMismatch)
        );
        let t = ps.sign("JWT", &serde_json::json!({})).unwrap();
        let h = header(&t).unwrap();
        assert!(keys.find(&h).unwrap().verify(&t, &h).is_ok());
    }

    #[test]
    fn ec_and_okp_keys_without_alg_take_their_one_algorithm() {
        let (es, ed) = (key(Algorithm::ES256), key(Algorithm::EdDSA));
        let strip = |k: &SigningKey| {
            let mut jwk = public(k);
            let obj = jwk.as_object_mut().unwrap();
            obj.remove("alg");
            obj.remove("use");
            jwk
        };
        let set = serde_json::json!({ "keys": [strip(&es), strip(&ed)] });
        let keys = KeySet::parse(set.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 2);
        for (k, other) in [(&es, "EdDSA"), (&ed, "ES256")] {
            let t = k.sign("JWT", &serde_json::json!({})).unwrap();
            let h = header(&t).unwrap();
            let found = keys.find(&h).unwrap();
            assert_eq!(found.alg(), k.alg());
            assert!(found.verify(&t, &h).is_ok());
            for alg in [other, "RS256", "PS256", "HS256", "none"] {
                let h = Header {
                    alg: alg.into(),
                    ..h.clone()
                };
                assert!(keys.find(&h).is_none(), "{} {alg}", k.alg());
            }
            // Without a kid: the one key of the header's algorithm.
            let h = Header { kid: None, ..h };
            assert_eq!(keys.find(&h).unwrap().kid(), k.kid());
        }
        // An OKP key of another curve names no key.
        let mut x448 = strip(&ed);
        x448["crv"] = "Ed448".into();
        let mut x25519 = strip(&ed);
        x25519["crv"] = "X25519".into();
        let set = serde_json::json!({ "keys": [x448, x25519] });
        assert!(
            KeySet::parse(set.to_string().as_bytes())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_header_without_kid_needs_exactly_one_candidate() {
        let (a, b) = (key(Algorithm::RS256), key(Algorithm::RS256));
        let unnamed = |k: &SigningKey, alg: Option<&str>| {
            let mut jwk = public(k);
            let obj = jwk.as_object_mut().unwrap();
            obj.remove("kid");
            match alg {
                Some(alg) => jwk["alg"] = alg.into(),
                None => {
                    obj.remove("alg");
                }
            }
            jwk
        };
        // One RSA key without alg is one candidate for RS256 and one for PS256.
        let set = serde_json::json!({ "keys": [unnamed(&a, None)] });
        let keys = KeySet::parse(set.to_string().as_bytes()).unwrap();
        let t = a.sign("JWT", &serde_json::json!({})).unwrap();
        let h = Header {
            kid: None,
            ..header(&t).unwrap()
        };
        assert!(keys.find(&h).unwrap().verify(&t, &h).is_ok());
        let ps = Header {
            alg: "PS256".into(),
            ..h.clone()
        };
        assert_eq!(keys.find(&ps).unwrap().alg(), Algorithm::PS256);
        // Another key usable with RS256 makes two: none is tried.
        let set = serde_json::json!({ "keys": [unnamed(&a, None), unnamed(&b, Some("RS256"))] });
        let keys = KeySet::parse(set.to_string().as_bytes()).unwrap();
        assert!(keys.find(&h).is_none());
        // With PS256 there is still only one.
        assert!(keys.find(&ps).is_some());
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
