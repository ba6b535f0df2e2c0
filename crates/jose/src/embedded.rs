//! A JWS that carries its own public key in the `jwk` header (RFC 7515 §4.1.3), as a DPoP
//! proof does (RFC 9449 §4.2, §4.3). Such a signature proves only possession of that key,
//! never who the key belongs to: the caller binds the key by its thumbprint (RFC 9449 §6)
//! to something it already trusts. This is the one place this crate takes a key from the
//! token it checks, and only because the caller asks for it by name; everywhere else an
//! embedded key is ignored (RFC 8725 §3.10).

use base64::Engine;
use serde_json::{Map, Value};

use crate::{Algorithm, B64, Header, JoseError, Jwk, VerifyingKey, header, thumbprint};

/// Members that only a private or symmetric JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4;
/// RFC 8037 §2): a proof carrying one has leaked its key and is refused (RFC 9449 §4.3).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A JWS verified with the public key in its own `jwk` header.
#[derive(Debug, Clone)]
pub struct EmbeddedKeyJws {
    pub header: Header,
    /// The embedded key's public members only, with `alg` set to the header's and `use`
    /// to `sig`; `kid` is empty (a DPoP key is named by its thumbprint).
    pub jwk: Jwk,
    /// The RFC 7638 SHA-256 thumbprint of `jwk` (RFC 9449 §6: the `jkt`).
    pub thumbprint: String,
    pub payload: Vec<u8>,
}

/// Verifies a compact JWS with the public key in its `jwk` header and returns it read.
/// The header is read as by [`header`] (length, three parts, no `crit`); its `alg` must
/// be one this crate implements (never `none` or HMAC, RFC 9449 §4.3 check 5) and fit
/// the key's type and curve; the `jwk` must be a JSON object holding a public key and
/// no private member (RFC 9449 §4.3 check 7). What the payload claims (`htm`, `htu`,
/// `iat`, `jti`, `ath`, `typ` `dpop+jwt`) is the caller's to check.
pub fn verify_embedded_jwk(token: &str) -> Result<EmbeddedKeyJws, JoseError> {
    let header = header(token)?;
    let alg = Algorithm::parse(&header.alg).ok_or(JoseError::AlgorithmMismatch)?;
    let object = header
        .jwk()
        .ok_or(JoseError::BadKey("no jwk header"))?
        .as_object()
        .ok_or(JoseError::BadKey("the jwk header must be a JSON object"))?;
    let jwk = public_jwk(object, alg)?;
    if jwk.kty == "RSA" && !(minimal_uint(&jwk.n) && minimal_uint(&jwk.e)) {
        return Err(JoseError::BadKey("RSA members must not have leading zeros"));
    }
    let payload = VerifyingKey::from_jwk(&jwk)?.verify(token, &header)?;
    Ok(EmbeddedKeyJws {
        thumbprint: thumbprint(&jwk),
        header,
        jwk,
        payload,
    })
}

/// The public members of an embedded JWK, checked to fit `alg`: the members the key type
/// needs (RFC 7518 §6.2.1, §6.3.1; RFC 8037 §2) and nothing else. A JWK that names an
/// `alg` of its own must name the header's; one that names a `use` must say `sig`.
fn public_jwk(object: &Map<String, Value>, alg: Algorithm) -> Result<Jwk, JoseError> {
    if PRIVATE_MEMBERS.iter().any(|m| object.contains_key(*m)) {
        return Err(JoseError::BadKey("the jwk header must be a public key"));
    }
    if member(object, "alg")?.is_some_and(|a| a != alg.as_str()) {
        return Err(JoseError::AlgorithmMismatch);
    }
    if member(object, "use")?.is_some_and(|u| u != "sig") {
        return Err(JoseError::BadKey("the jwk header is not a signature key"));
    }
    let kty = member(object, "kty")?.ok_or(JoseError::BadKey("the jwk header has no kty"))?;
    let names: &[&str] = match kty {
        "EC" => &["crv", "x", "y"],
        "RSA" => &["n", "e"],
        "OKP" => &["crv", "x"],
        _ => return Err(JoseError::BadKey("unsupported kty")),
    };
    let take = |name: &str| -> Result<Option<String>, JoseError> {
        if !names.contains(&name) {
            return Ok(None);
        }
        Ok(member(object, name)?.map(str::to_owned))
    };
    Ok(Jwk {
        kty: kty.to_owned(),
        kid: String::new(),
        alg: alg.as_str().to_owned(),
        use_: "sig".to_owned(),
        crv: take("crv")?,
        x: take("x")?,
        y: take("y")?,
        n: take("n")?,
        e: take("e")?,
    })
}

/// A string member of a JWK; present with any other JSON type, the key is unusable.
fn member<'a>(object: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, JoseError> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JoseError::BadKey("a jwk member is not a string")),
    }
}

/// Whether a Base64urlUInt member uses the fewest octets its value needs (RFC 7518 §2), so
/// that one key has one thumbprint. Anything else is for [`VerifyingKey::from_jwk`] to
/// refuse.
fn minimal_uint(member: &Option<String>) -> bool {
    match member.as_deref().map(|m| B64.decode(m)) {
        Some(Ok(bytes)) => bytes.len() <= 1 || bytes[0] != 0,
        _ => true,
    }
}
