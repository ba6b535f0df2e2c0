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
fn sign_and_verify_every_algorithm() {
    for alg in Algorithm::ALL {
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
fn algorithm_names() {
    for alg in Algorithm::ALL {
        assert_eq!(Algorithm::parse(alg.as_str()), Some(alg));
        assert_eq!(alg.to_string(), alg.as_str());
    }
    assert_eq!(Algorithm::PS256.as_str(), "PS256");
    assert_eq!(Algorithm::EdDSA.as_str(), "EdDSA");
    for other in ["none", "HS256", "ES512", "Ed25519", "eddsa", "ps256", ""] {
        assert_eq!(Algorithm::parse(other), None, "{other}");
    }
}

fn jsonwebtoken_alg(alg: Algorithm) -> jsonwebtoken::Algorithm {
    match alg {
        Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
        Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
        Algorithm::PS256 => jsonwebtoken::Algorithm::PS256,
        Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
    }
}

/// The jsonwebtoken decoding key for our public JWK, built from its raw members.
fn their_decoding_key(jwk: &Jwk) -> jsonwebtoken::DecodingKey {
    let m = |v: &Option<String>| v.clone().unwrap();
    match jwk.kty.as_str() {
        "EC" => jsonwebtoken::DecodingKey::from_ec_components(&m(&jwk.x), &m(&jwk.y)),
        "RSA" => jsonwebtoken::DecodingKey::from_rsa_components(&m(&jwk.n), &m(&jwk.e)),
        "OKP" => jsonwebtoken::DecodingKey::from_ed_components(&m(&jwk.x)),
        other => panic!("{other}"),
    }
    .unwrap()
}

#[test]
fn an_independent_library_verifies_our_tokens_with_our_jwk() {
    for alg in Algorithm::ALL {
        let k = key(alg);
        let t = k
            .sign("at+jwt", &json!({"sub": "x", "exp": 4_000_000_000u64}))
            .unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken_alg(alg));
        v.required_spec_claims.clear();
        let dk = their_decoding_key(k.jwk());
        let data = jsonwebtoken::decode::<serde_json::Value>(&t, &dk, &v).unwrap();
        assert_eq!(data.claims["sub"], "x", "{alg}");
        // And through its own JWK parser, which knows OKP too.
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(serde_json::to_value(k.jwk()).unwrap()).unwrap();
        let dk = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        assert!(jsonwebtoken::decode::<serde_json::Value>(&t, &dk, &v).is_ok());
        // The other library computes the same RFC 7638 kid.
        let their_kid = jwk
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap();
        assert_eq!(their_kid, k.kid(), "{alg}");
    }
}

/// The DER element at the start of `der`: its tag, its contents and what follows it.
fn der_element(der: &[u8]) -> (u8, &[u8], &[u8]) {
    let (len, start) = match der[1] {
        n if n < 0x80 => (usize::from(n), 2),
        n => {
            let k = usize::from(n & 0x7f);
            let len = der[2..2 + k]
                .iter()
                .fold(0, |a, &b| a << 8 | usize::from(b));
            (len, 2 + k)
        }
    };
    (der[0], &der[start..start + len], &der[start + len..])
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (RFC 5208 §5), which is
/// what jsonwebtoken's RSA signer takes.
fn pkcs1_of_pkcs8(der: &[u8]) -> Vec<u8> {
    let (tag, info, _) = der_element(der);
    assert_eq!(tag, 0x30);
    let (tag, _version, rest) = der_element(info);
    assert_eq!(tag, 0x02);
    let (tag, _algorithm, rest) = der_element(rest);
    assert_eq!(tag, 0x30);
    let (tag, key, _) = der_element(rest);
    assert_eq!(tag, 0x04);
    key.to_vec()
}

#[test]
fn we_verify_the_independent_library_s_tokens() {
    for alg in Algorithm::ALL {
        let der = generate_pkcs8(alg).unwrap();
        let ours = SigningKey::from_pkcs8(alg, &der).unwrap();
        let ek = match alg {
            Algorithm::ES256 => jsonwebtoken::EncodingKey::from_ec_der(&der),
            Algorithm::RS256 | Algorithm::PS256 => {
                jsonwebtoken::EncodingKey::from_rsa_der(&pkcs1_of_pkcs8(&der))
            }
            Algorithm::EdDSA => jsonwebtoken::EncodingKey::from_ed_der(&der),
        };
        let mut h = jsonwebtoken::Header::new(jsonwebtoken_alg(alg));
        h.kid = Some(ours.kid().to_owned());
        let t = jsonwebtoken::encode(&h, &json!({"sub": "them"}), &ek).unwrap();
        assert_eq!(verify(&t, &ours).unwrap(), br#"{"sub":"them"}"#, "{alg}");
        // Their signature under another algorithm of the same key type does not verify.
        if alg == Algorithm::RS256 || alg == Algorithm::PS256 {
            let other = if alg == Algorithm::RS256 {
                Algorithm::PS256
            } else {
                Algorithm::RS256
            };
            let relabelled = relabel(&t, other);
            let vk = VerifyingKey::from_jwk(&Jwk {
                alg: other.as_str().into(),
                ..ours.jwk().clone()
            })
            .unwrap();
            let h = header(&relabelled).unwrap();
            assert_eq!(vk.verify(&relabelled, &h), Err(JoseError::BadSignature));
        }
    }
}

/// `token` with its header's `alg` replaced, the signature kept.
fn relabel(token: &str, alg: Algorithm) -> String {
    let mut parts = token.split('.');
    let h = parts.next().unwrap();
    let mut value: serde_json::Value = serde_json::from_slice(&B64.decode(h).unwrap()).unwrap();
    value["alg"] = alg.as_str().into();
    let rest: Vec<&str> = parts.collect();
    format!("{}.{}", B64.encode(value.to_string()), rest.join("."))
}

#[test]
fn generated_keys_read_back_and_ed25519_reads_pkcs8_v1_too() {
    for alg in Algorithm::ALL {
        let der = generate_pkcs8(alg).unwrap();
        assert_eq!(SigningKey::from_pkcs8(alg, &der).unwrap().alg(), alg);
    }
    let v1 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
    let k = SigningKey::from_pkcs8(Algorithm::EdDSA, v1.as_ref()).unwrap();
    let t = k.sign("JWT", &json!({})).unwrap();
    assert_eq!(verify(&t, &k).unwrap(), b"{}");
    // A key is read only as the algorithm it is for.
    let ed = generate_pkcs8(Algorithm::EdDSA).unwrap();
    let ec = generate_pkcs8(Algorithm::ES256).unwrap();
    for (alg, der) in [
        (Algorithm::ES256, &ed),
        (Algorithm::RS256, &ed),
        (Algorithm::PS256, &ec),
        (Algorithm::EdDSA, &ec),
    ] {
        assert!(
            matches!(SigningKey::from_pkcs8(alg, der), Err(JoseError::BadKey(_))),
            "{alg}"
        );
    }
}

#[test]
fn ed25519_jwk_is_okp_with_crv_and_x() {
    let k = key(Algorithm::EdDSA);
    let v = serde_json::to_value(k.jwk()).unwrap();
    let mut members: Vec<&str> = v.as_object().unwrap().keys().map(|s| s.as_str()).collect();
    members.sort_unstable();
    assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x"]);
    assert_eq!(v["kty"], "OKP");
    assert_eq!(v["crv"], "Ed25519");
    assert_eq!(v["alg"], "EdDSA");
    assert_eq!(B64.decode(v["x"].as_str().unwrap()).unwrap().len(), 32);
    assert_eq!(k.kid(), thumbprint(k.jwk()));
}

fn public_jwk(kty: &str, alg: &str) -> Jwk {
    Jwk {
        kty: kty.into(),
        kid: String::new(),
        alg: alg.into(),
        use_: "sig".into(),
        crv: None,
        x: None,
        y: None,
        n: None,
        e: None,
    }
}

const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

#[test]
fn thumbprints_match_rfc_7638_and_rfc_8037() {
    // RFC 7638 §3.1; `kid` and `alg` are not part of the thumbprint.
    let rsa = Jwk {
        kid: "2011-04-29".into(),
        n: Some(RFC7638_N.into()),
        e: Some("AQAB".into()),
        ..public_jwk("RSA", "RS256")
    };
    assert_eq!(
        thumbprint(&rsa),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    // RFC 8037 Appendix A.3.
    let okp = Jwk {
        crv: Some("Ed25519".into()),
        x: Some(RFC8037_X.into()),
        ..public_jwk("OKP", "EdDSA")
    };
    assert_eq!(
        thumbprint(&okp),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
}

#[test]
fn rfc_8037_ed25519_example_verifies() {
    // RFC 8037 Appendix A.4 (and A.5), and the key of A.1 read from its seed (A.2).
    let t = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    let jwk = Jwk {
        crv: Some("Ed25519".into()),
        x: Some(RFC8037_X.into()),
        ..public_jwk("OKP", "EdDSA")
    };
    let vk = VerifyingKey::from_jwk(&jwk).unwrap();
    let h = header(t).unwrap();
    assert_eq!(vk.verify(t, &h).unwrap(), b"Example of Ed25519 signing");
    let seed = B64
        .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
        .unwrap();
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    let der = pair.to_pkcs8v1().unwrap();
    let k = SigningKey::from_pkcs8(Algorithm::EdDSA, der.as_ref()).unwrap();
    assert_eq!(k.jwk().x.as_deref(), Some(RFC8037_X));
    assert_eq!(k.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    // Ed25519 is deterministic (RFC 8032 §5.1.6): the same input, the same signature.
    let (input, sig) = t.rsplit_once('.').unwrap();
    assert_eq!(B64.encode(k.signature(input.as_bytes()).unwrap()), sig);
}

/// `n` of the given bit length (top bit set), behind `zeros` leading zero bytes.
fn modulus(bits: usize, zeros: usize) -> String {
    let mut n = vec![0u8; zeros + bits.div_ceil(8)];
    n[zeros] = 1 << ((bits - 1) % 8);
    *n.last_mut().unwrap() |= 1;
    B64.encode(n)
}

#[test]
fn rsa_keys_must_be_2048_to_8192_bits() {
    for alg in ["RS256", "PS256"] {
        let rsa = |n: String| Jwk {
            n: Some(n),
            e: Some("AQAB".into()),
            ..public_jwk("RSA", alg)
        };
        for (bits, zeros) in [(1024, 0), (2047, 0), (2047, 1), (8193, 0)] {
            assert!(
                matches!(
                    VerifyingKey::from_jwk(&rsa(modulus(bits, zeros))),
                    Err(JoseError::BadKey(_))
                ),
                "{alg} {bits}"
            );
        }
        for (bits, zeros) in [(2048, 0), (2048, 1), (4096, 0), (8192, 0)] {
            assert!(
                VerifyingKey::from_jwk(&rsa(modulus(bits, zeros))).is_ok(),
                "{alg} {bits}"
            );
        }
        // RFC 7638's example key is 2048 bits.
        assert!(VerifyingKey::from_jwk(&rsa(RFC7638_N.into())).is_ok());
        assert!(
            VerifyingKey::from_jwk(&Jwk {
                e: Some("AA".into()),
                ..rsa(RFC7638_N.into())
            })
            .is_err()
        );
    }
}

#[test]
fn a_key_type_that_does_not_fit_the_alg_is_a_bad_key() {
    let rsa = Jwk {
        n: Some(RFC7638_N.into()),
        e: Some("AQAB".into()),
        ..public_jwk("RSA", "ES256")
    };
    let ec = serde_json::to_value(key(Algorithm::ES256).jwk()).unwrap();
    let ec: Jwk = serde_json::from_value(ec).unwrap();
    let okp = Jwk {
        crv: Some("Ed25519".into()),
        x: Some(RFC8037_X.into()),
        ..public_jwk("OKP", "EdDSA")
    };
    let cases = [
        rsa.clone(),
        Jwk {
            alg: "EdDSA".into(),
            ..rsa.clone()
        },
        Jwk {
            alg: "EdDSA".into(),
            ..ec.clone()
        },
        Jwk {
            alg: "RS256".into(),
            ..ec.clone()
        },
        Jwk {
            alg: "PS256".into(),
            ..okp.clone()
        },
        Jwk {
            alg: "ES256".into(),
            ..okp.clone()
        },
        // Ed448 and X25519 are OKP too, but not this crate's.
        Jwk {
            crv: Some("Ed448".into()),
            ..okp.clone()
        },
        Jwk {
            crv: Some("X25519".into()),
            ..okp.clone()
        },
        Jwk {
            x: Some(B64.encode([1u8; 31])),
            ..okp.clone()
        },
        Jwk {
            alg: "HS256".into(),
            ..rsa.clone()
        },
        // 65 bytes in all, but not 32 and 32 (RFC 7518 §6.2.1.2).
        Jwk {
            x: Some(B64.encode([7u8; 31])),
            y: Some(B64.encode([7u8; 33])),
            ..ec.clone()
        },
        Jwk {
            alg: "none".into(),
            ..okp.clone()
        },
    ];
    for jwk in cases {
        assert!(
            matches!(VerifyingKey::from_jwk(&jwk), Err(JoseError::BadKey(_))),
            "{jwk:?}"
        );
    }
    assert!(VerifyingKey::from_jwk(&okp).is_ok());
}

#[test]
fn a_key_pinned_to_ps256_refuses_rs256() {
    let der = generate_pkcs8(Algorithm::RS256).unwrap();
    let rs = SigningKey::from_pkcs8(Algorithm::RS256, &der).unwrap();
    let ps = SigningKey::from_pkcs8(Algorithm::PS256, &der).unwrap();
    // The same RSA key: the same thumbprint and kid.
    assert_eq!(rs.kid(), ps.kid());
    let pinned = VerifyingKey::from_jwk(ps.jwk()).unwrap();
    assert_eq!(pinned.alg(), Algorithm::PS256);
    let t = rs.sign("JWT", &json!({})).unwrap();
    assert_eq!(
        pinned.verify(&t, &header(&t).unwrap()),
        Err(JoseError::AlgorithmMismatch)
    );
    // Relabelled PS256, the PKCS#1 v1.5 signature still does not verify as PSS.
    let t = relabel(&t, Algorithm::PS256);
    assert_eq!(
        pinned.verify(&t, &header(&t).unwrap()),
        Err(JoseError::BadSignature)
    );
    let t = ps.sign("JWT", &json!({})).unwrap();
    assert_eq!(pinned.verify(&t, &header(&t).unwrap()).unwrap(), b"{}");
}

#[test]
fn jwk_has_public_members_only_and_a_stable_kid() {
    for alg in Algorithm::ALL {
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
    for alg in Algorithm::ALL {
        let k = key(alg);
        let t = k.sign("at+jwt", &json!({"sub": "x"})).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let evil = format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(br#"{"sub":"y"}"#),
            parts[2]
        );
        assert_eq!(verify(&evil, &k), Err(JoseError::BadSignature), "{alg}");
        // Another key of the same algorithm does not verify it either.
        assert_eq!(verify(&t, &key(alg)), Err(JoseError::BadSignature), "{alg}");
    }
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
    for alg in Algorithm::ALL {
        let k = key(alg);
        let d = format!("{k:?}");
        assert!(d.contains("redacted"));
        assert!(d.len() < 120);
    }
    let seed = B64
        .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
        .unwrap();
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    let k = SigningKey::from_pkcs8(Algorithm::EdDSA, pair.to_pkcs8().unwrap().as_ref()).unwrap();
    let d = format!("{k:?}");
    assert!(!d.contains("nWGxne"), "{d}");
}

/// A compact JWS of `header` and `payload` signed by `k`, whatever the header says.
fn signed(k: &SigningKey, header: &serde_json::Value, payload: &[u8]) -> String {
    let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(payload));
    let sig = k.signature(input.as_bytes()).unwrap();
    format!("{input}.{}", B64.encode(sig))
}

/// The public JWK as a DPoP client sends it: the key type's members only.
fn dpop_jwk(k: &SigningKey) -> serde_json::Value {
    let mut v = serde_json::to_value(k.jwk()).unwrap();
    let obj = v.as_object_mut().unwrap();
    for m in ["kid", "alg", "use"] {
        obj.remove(m);
    }
    v
}

fn dpop(k: &SigningKey, jwk: serde_json::Value) -> String {
    let h = json!({"typ": "dpop+jwt", "alg": k.alg().as_str(), "jwk": jwk});
    signed(k, &h, br#"{"htm":"POST"}"#)
}

#[test]
fn embedded_jwk_verifies_for_every_algorithm() {
    for alg in Algorithm::ALL {
        let k = key(alg);
        let proof = verify_embedded_jwk(&dpop(&k, dpop_jwk(&k))).unwrap();
        assert_eq!(proof.payload, br#"{"htm":"POST"}"#);
        assert_eq!(proof.header.typ.as_deref(), Some("dpop+jwt"));
        // Our kid is the same RFC 7638 thumbprint.
        assert_eq!(proof.thumbprint, k.kid(), "{alg}");
        assert_eq!(
            proof.jwk,
            Jwk {
                kid: String::new(),
                ..k.jwk().clone()
            }
        );
        // A JWK that names its alg and use (and kid) is fine when they agree.
        let full = serde_json::to_value(k.jwk()).unwrap();
        assert_eq!(
            verify_embedded_jwk(&dpop(&k, full)).unwrap().thumbprint,
            k.kid()
        );
    }
}

#[test]
fn embedded_jwk_must_be_a_public_key() {
    let k = key(Algorithm::ES256);
    for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        let mut jwk = dpop_jwk(&k);
        jwk[private] = "AAAA".into();
        assert_eq!(
            verify_embedded_jwk(&dpop(&k, jwk)).unwrap_err(),
            JoseError::BadKey("the jwk header must be a public key"),
            "{private}"
        );
    }
    // Nor does a header's Debug show what the careless client sent.
    let mut jwk = dpop_jwk(&k);
    jwk["d"] = "c2VjcmV0LXByaXZhdGUta2V5".into();
    let h = header(&dpop(&k, jwk)).unwrap();
    assert!(h.jwk().is_some());
    assert!(!format!("{h:?}").contains("c2VjcmV0"), "{h:?}");
    // Even a null private member is one too many.
    let mut jwk = dpop_jwk(&k);
    jwk["d"] = serde_json::Value::Null;
    assert!(verify_embedded_jwk(&dpop(&k, jwk)).is_err());
    // A symmetric key is no public key either.
    let oct = json!({"kty": "oct", "k": "c2VjcmV0"});
    assert!(verify_embedded_jwk(&dpop(&k, oct)).is_err());
}

#[test]
fn embedded_jwk_must_fit_the_alg() {
    let (es, rs, ed) = (
        key(Algorithm::ES256),
        key(Algorithm::RS256),
        key(Algorithm::EdDSA),
    );
    // An RSA key with an ES256 header, an EC key with an EdDSA header, ...
    for (signer, jwk) in [
        (&es, dpop_jwk(&rs)),
        (&ed, dpop_jwk(&es)),
        (&rs, dpop_jwk(&ed)),
    ] {
        assert_eq!(
            verify_embedded_jwk(&dpop(signer, jwk)).unwrap_err(),
            JoseError::BadKey("kty does not match alg")
        );
    }
    // ... or a JWK naming another algorithm than the header.
    let mut jwk = dpop_jwk(&rs);
    jwk["alg"] = "PS256".into();
    assert_eq!(
        verify_embedded_jwk(&dpop(&rs, jwk)).unwrap_err(),
        JoseError::AlgorithmMismatch
    );
    let mut jwk = dpop_jwk(&rs);
    jwk["use"] = "enc".into();
    assert!(verify_embedded_jwk(&dpop(&rs, jwk)).is_err());
    // The key in the header must be the one that signed.
    assert_eq!(
        verify_embedded_jwk(&dpop(&es, dpop_jwk(&key(Algorithm::ES256)))).unwrap_err(),
        JoseError::BadSignature
    );
    // The same RSA key behind a leading zero would have a second thumbprint.
    let mut jwk = dpop_jwk(&rs);
    let n = B64.decode(jwk["n"].as_str().unwrap()).unwrap();
    jwk["n"] = B64.encode([&[0u8][..], &n].concat()).into();
    assert!(matches!(
        verify_embedded_jwk(&dpop(&rs, jwk)),
        Err(JoseError::BadKey(_))
    ));
    let mut jwk = dpop_jwk(&rs);
    jwk["e"] = "AAEAAQ".into();
    assert!(verify_embedded_jwk(&dpop(&rs, jwk)).is_err());
    // A 1024-bit RSA key in the header is refused before any signature is checked.
    let mut jwk = dpop_jwk(&rs);
    jwk["n"] = modulus(1024, 0).into();
    assert!(matches!(
        verify_embedded_jwk(&dpop(&rs, jwk)),
        Err(JoseError::BadKey(_))
    ));
}

#[test]
fn embedded_jwk_with_none_or_hmac_is_refused() {
    let k = key(Algorithm::ES256);
    let jwk = dpop_jwk(&k);
    let none = forge(json!({"alg": "none", "jwk": jwk}), b"{}", b"");
    assert_eq!(
        verify_embedded_jwk(&none).unwrap_err(),
        JoseError::AlgorithmMismatch
    );
    // HMAC keyed with the embedded JWK's own bytes.
    let h = json!({"alg": "HS256", "jwk": jwk});
    let input = format!("{}.{}", B64.encode(h.to_string()), B64.encode(b"{}"));
    let tag = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, jwk.to_string().as_bytes()),
        input.as_bytes(),
    );
    let t = format!("{input}.{}", B64.encode(tag.as_ref()));
    assert_eq!(
        verify_embedded_jwk(&t).unwrap_err(),
        JoseError::AlgorithmMismatch
    );
    let oct = json!({"kty": "oct", "k": B64.encode(b"secret")});
    let t = forge(json!({"alg": "HS256", "jwk": oct}), b"{}", b"x");
    assert!(verify_embedded_jwk(&t).is_err());
}

#[test]
fn embedded_jwk_malformed_headers_are_errors() {
    let k = key(Algorithm::EdDSA);
    let alg = k.alg().as_str();
    let jwk = dpop_jwk(&k);
    let mut not_string = jwk.clone();
    not_string["x"] = json!(["AAAA"]);
    let mut no_kty = jwk.clone();
    no_kty.as_object_mut().unwrap().remove("kty");
    let cases = [
        json!({"alg": alg}),
        json!({"alg": alg, "jwk": null}),
        json!({"alg": alg, "jwk": jwk.to_string()}),
        json!({"alg": alg, "jwk": [jwk]}),
        json!({"alg": alg, "jwk": not_string}),
        json!({"alg": alg, "jwk": no_kty}),
        json!({"alg": alg, "jwk": {"kty": "EC", "crv": "P-256"}}),
        json!({"alg": alg, "jwk": jwk, "crit": ["jwk"]}),
    ];
    for h in cases {
        let t = signed(&k, &h, b"{}");
        assert!(verify_embedded_jwk(&t).is_err(), "{h}");
    }
    assert!(verify_embedded_jwk("a.b").is_err());
    let long = format!("{}.e30.", "A".repeat(MAX_TOKEN_LEN));
    assert_eq!(
        verify_embedded_jwk(&long).unwrap_err(),
        JoseError::Malformed
    );
}

#[test]
fn ordinary_verification_ignores_an_embedded_jwk() {
    // RFC 8725 §3.10: the attacker's key in the header, the victim's kid.
    let victim = key(Algorithm::ES256);
    let attacker = key(Algorithm::ES256);
    let h = json!({"alg": "ES256", "kid": victim.kid(), "jwk": dpop_jwk(&attacker)});
    let t = signed(&attacker, &h, b"{}");
    assert!(header(&t).unwrap().jwk().is_some());
    assert_eq!(verify(&t, &victim), Err(JoseError::BadSignature));
    let set = json!({ "keys": [victim.jwk()] }).to_string();
    let keys = KeySet::parse(set.as_bytes()).unwrap();
    let h = header(&t).unwrap();
    let found = keys.find(&h).unwrap();
    assert_eq!(found.kid(), victim.kid());
    assert_eq!(found.verify(&t, &h), Err(JoseError::BadSignature));
    // Without a kid, the embedded key still names nothing in the set: the set's one key
    // is tried, and fails.
    let h = json!({"alg": "ES256", "jwk": dpop_jwk(&attacker)});
    let t = signed(&attacker, &h, b"{}");
    let h = header(&t).unwrap();
    assert_eq!(
        keys.find(&h).unwrap().verify(&t, &h),
        Err(JoseError::BadSignature)
    );
}
