//! TOTP (RFC 6238) over HOTP (RFC 4226 §5.3), HMAC-SHA-1 as every authenticator app
//! computes it, the secret's base32 (RFC 4648 §6) and the `otpauth://` URI apps scan (Key
//! Uri Format), and its QR code as SVG markup for the page (no image request, so the page
//! CSP `img-src 'self'` is untouched and the secret never appears in a URL).

use aws_lc_rs::{constant_time, hmac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use valet_protocol::mfa::{TOTP_DIGITS, TOTP_STEP};

/// Bytes of a new secret: 160 bits, RFC 4226 §4 R6's recommendation.
pub const SECRET_BYTES: usize = 20;

/// RFC 4226 §5.3: HOTP(K, C) = Truncate(HMAC-SHA-1(K, C)) mod 10^digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let hs = tag.as_ref();
    // Dynamic truncation: the low 4 bits of the last byte pick 4 bytes, top bit masked.
    let offset = usize::from(hs[hs.len() - 1] & 0x0f);
    let binary = (u32::from(hs[offset]) & 0x7f) << 24
        | u32::from(hs[offset + 1]) << 16
        | u32::from(hs[offset + 2]) << 8
        | u32::from(hs[offset + 3]);
    binary % 10u32.pow(digits)
}

/// The code of time step `step`, zero-padded to `TOTP_DIGITS`.
pub fn code(secret: &[u8], step: i64) -> String {
    let n = hotp(secret, u64::try_from(step).unwrap_or(0), TOTP_DIGITS);
    format!("{n:0width$}", width = TOTP_DIGITS as usize)
}

/// Whether `typed` (six digits, `mfa::totp_input`) is the code of `step`, compared in
/// constant time.
pub fn matches(secret: &[u8], step: i64, typed: &str) -> bool {
    constant_time::verify_slices_are_equal(code(secret, step).as_bytes(), typed.as_bytes()).is_ok()
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 §6 base32, without padding (what authenticator apps take).
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The bytes of a base32 text (case and padding ignored), if it is one.
pub fn unbase32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|&a| a == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// What the label and parameters of the URI escape: all but unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `otpauth://totp/<issuer>:<account>?secret=…&issuer=…` (Key Uri Format), with the
/// parameters RFC 6238 leaves to the apps' defaults spelled out.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let i = utf8_percent_encode(issuer, COMPONENT);
    let a = utf8_percent_encode(account, COMPONENT);
    format!(
        "otpauth://totp/{i}:{a}?secret={}&issuer={i}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP}",
        base32(secret)
    )
}

/// The QR code of `text` as an `<svg>` element to put in a page (no XML declaration,
/// no script, no style: presentation attributes only).
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let start = svg.find("<svg")?;
    let svg = &svg[start..];
    // An accessible name, and a size that follows the page's CSS.
    Some(svg.replacen(
        "<svg",
        r#"<svg class="qr" role="img" aria-label="QR code for your authenticator app""#,
        1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 Appendix B, SHA-1 rows: the 20-byte ASCII secret, 8 digits.
    #[test]
    fn rfc_6238_appendix_b() {
        let secret = b"12345678901234567890";
        for (time, expected) in [
            (59_i64, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            let step = valet_protocol::mfa::totp_step(time);
            assert_eq!(hotp(secret, step as u64, 8), expected, "T = {time}");
        }
    }

    // RFC 4226 Appendix D: HOTP values of counters 0..9, 6 digits.
    #[test]
    fn rfc_4226_appendix_d() {
        let expected = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (c, e) in expected.iter().enumerate() {
            assert_eq!(
                hotp(b"12345678901234567890", c as u64, 6),
                *e,
                "counter {c}"
            );
        }
        assert_eq!(code(b"12345678901234567890", 0), "755224");
        assert!(matches(b"12345678901234567890", 1, "287082"));
        assert!(!matches(b"12345678901234567890", 1, "287083"));
        // Zero-padded: 7081804 at 8 digits is "07081804"; at 6, the low six digits.
        assert_eq!(code(b"12345678901234567890", 37_037_036), "081804");
    }

    #[test]
    fn base32_round_trips() {
        // RFC 4648 §10.
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(plain.as_bytes()), encoded);
            assert_eq!(unbase32(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(unbase32("mzxw6ytboi======").unwrap(), b"foobar");
        assert_eq!(unbase32("MZ1"), None);
        assert_eq!(base32(&[0u8; SECRET_BYTES]).len(), 32);
    }

    #[test]
    fn the_uri_names_issuer_and_account() {
        let uri = otpauth_uri("Acme Corp", "ann@example.com", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Corp:ann%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Acme%20Corp&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn the_qr_code_is_plain_svg_markup() {
        let svg = qr_svg("otpauth://totp/Valet:ann?secret=GEZDGNBV").unwrap();
        assert!(svg.starts_with("<svg class=\"qr\""), "{svg}");
        assert!(svg.ends_with("</svg>"));
        assert!(!svg.contains("<?xml") && !svg.contains("<script") && !svg.contains("style="));
    }
}
