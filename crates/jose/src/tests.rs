use super::*;
use serde_json::json;

fn key(alg: Algorithm) -> SigningKey {
    SigningKey::from_pkcs8(alg, &generate_pkcs8(alg).unwrap()).unwrap()
}

fn verify(token: &str, k: &SigningKey) -> Result<Vec<u8>, JoseError> {
    let vk = VerifyingKey::from_jwk(k.jwk()).unwrap();
    vk.verify(token, &header(token)?)
}

fn forge(header: serde_json::Value, payload: &[u8], sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(header.to_string()),
        B64.encode(payload),
        B64.encode(sig)
    )
}

#[test]
fn sign_and_verify_both_algorithms() {
    for alg in [Algorithm::ES256, Algorithm::RS256] {
        let k = key(alg);
        let t = k.sign("at+jwt", &json!({"sub": "x"})).unwrap();
        let h = header(&t).unwrap();
        assert_eq!(h.alg, alg.as_str());
        assert_eq!(h.typ.as_deref(), Some("at+jwt"));
        assert_eq!(h.kid.as_deref(), Some(k.kid()));
        assert_eq!(verify(&t, &k).unwrap(), br#"{"sub":"x"}"#);
    }
}

#[test]
fn an_independent_library_verifies_our_tokens_with_our_jwk() {
    for (alg, jalg) in [
        (Algorithm::ES256, jsonwebtoken::Algorithm::ES256),
        (Algorithm::RS256, jsonwebtoken::Algorithm::RS256),
    ] {
        let k = key(alg);
        let t = k
            .sign("at+jwt", &json!({"sub": "x", "exp": 4_000_000_000u64}))
            .unwrap();
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(serde_json::to_value(k.jwk()).unwrap()).unwrap();
        let dk = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut v = jsonwebtoken::Validation::new(jalg);
        v.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<serde_json::Value>(&t, &dk, &v).unwrap();
        assert_eq!(data.claims["sub"], "x");
    }
}

#[test]
fn jwk_has_public_members_only_and_a_stable_kid() {
    for alg in [Algorithm::ES256, Algorithm::RS256] {
        let der = generate_pkcs8(alg).unwrap();
        let a = SigningKey::from_pkcs8(alg, &der).unwrap();
        let b = SigningKey::from_pkcs8(alg, &der).unwrap();
        assert_eq!(a.kid(), b.kid());
        let v = serde_json::to_value(a.jwk()).unwrap();
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(v.get(private).is_none(), "{private}");
        }
        assert_eq!(v["use"], "sig");
        assert_eq!(v["alg"], alg.as_str());
    }
    assert_ne!(key(Algorithm::ES256).kid(), key(Algorithm::ES256).kid());
}

#[test]
fn tampered_payload_fails() {
    let k = key(Algorithm::ES256);
    let t = k.sign("at+jwt", &json!({"sub": "x"})).unwrap();
    let parts: Vec<&str> = t.split('.').collect();
    let evil = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(br#"{"sub":"y"}"#),
        parts[2]
    );
    assert_eq!(verify(&evil, &k), Err(JoseError::BadSignature));
}

#[test]
fn alg_none_and_hs256_with_the_public_key_are_refused() {
    let k = key(Algorithm::ES256);
    let none = forge(json!({"alg": "none", "kid": k.kid()}), b"{}", b"");
    assert_eq!(verify(&none, &k), Err(JoseError::AlgorithmMismatch));

    // HS256 keyed with the public key in several spellings (checklist K2).
    let jwk_json = serde_json::to_string(k.jwk()).unwrap();
    for secret in [
        jwk_json.as_bytes(),
        k.jwk().x.as_deref().unwrap().as_bytes(),
    ] {
        let h = json!({"alg": "HS256", "kid": k.kid()});
        let input = format!("{}.{}", B64.encode(h.to_string()), B64.encode(b"{}"));
        let tag = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
            input.as_bytes(),
        );
        let t = format!("{input}.{}", B64.encode(tag.as_ref()));
        assert_eq!(verify(&t, &k), Err(JoseError::AlgorithmMismatch));
    }
}

#[test]
fn psychic_signature_is_refused() {
    // CVE-2022-21449: r = s = 0 must never verify (checklist K11).
    let k = key(Algorithm::ES256);
    let t = forge(json!({"alg": "ES256", "kid": k.kid()}), b"{}", &[0u8; 64]);
    assert_eq!(verify(&t, &k), Err(JoseError::BadSignature));
    // s out of range (all 0xff, above the group order).
    let mut sig = [0xffu8; 64];
    sig[0] = 1;
    let t = forge(json!({"alg": "ES256", "kid": k.kid()}), b"{}", &sig);
    assert_eq!(verify(&t, &k), Err(JoseError::BadSignature));
}

#[test]
fn malformed_tokens_are_errors_not_panics() {
    let k = key(Algorithm::ES256);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases = vec![
        "a.b".to_string(),
        "a.b.c.d".to_string(),
        "!!.!!.!!".to_string(),
        format!("{}.e30.", B64.encode("x".repeat(1 << 20))),
        format!("{}.e30.", B64.encode(deep)),
        format!("{}.e30.", B64.encode(r#"{"alg":"ES256","alg":"none"}"#)),
        format!("{}.e30.", B64.encode(r#"{"alg":"ES256","crit":["exp"]}"#)),
        String::new(),
    ];
    for t in cases {
        let r = header(&t).and_then(|h| VerifyingKey::from_jwk(k.jwk()).unwrap().verify(&t, &h));
        assert!(r.is_err(), "{t:.40}");
    }
}

#[test]
fn debug_hides_private_keys() {
    let k = key(Algorithm::ES256);
    let d = format!("{k:?}");
    assert!(d.contains("redacted"));
    assert!(d.len() < 120);
}
