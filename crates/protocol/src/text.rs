//! Rules for text an admin enters (issue 12, item 16): names, descriptions, usernames and
//! the like are printable (no control characters, which a terminal would obey when
//! `valet client show` prints them, and no bidirectional overrides, which make a name read
//! as another); URIs are ASCII (RFC 3986 §2: other characters are percent-encoded), so
//! nothing invisible or reordering reaches a `Location` header. Errors name the field and
//! show the value with the offending characters escaped.

use std::borrow::Cow;

/// Unicode's bidirectional formatting characters (UAX #9, `Bidi_Control`): they reorder
/// the text around them on screen, so `Evil \u{202e}ppA` reads as `EvilApp`.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A character that must not appear in admin-entered text: C0 and C1 controls, DEL, and
/// bidirectional formatting characters.
pub fn is_forbidden_in_text(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// `value` with every forbidden or non-printable-ASCII-in-a-URI character written as
/// `\u{…}`: safe to print on a terminal or in an error message.
pub fn visible(value: &str) -> Cow<'_, str> {
    if !value.chars().any(is_forbidden_in_text) {
        return Cow::Borrowed(value);
    }
    Cow::Owned(
        value
            .chars()
            .map(|c| {
                if is_forbidden_in_text(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// `value` with every non-ASCII or control character escaped, for messages about URIs.
fn visible_ascii(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c.to_string()
            } else {
                c.escape_unicode().to_string()
            }
        })
        .collect()
}

/// Free text (a name, a description): any script, but printable.
pub fn check_printable(field: &str, value: &str) -> Result<(), String> {
    match value.chars().find(|c| is_forbidden_in_text(*c)) {
        None => Ok(()),
        Some(c) => Err(format!(
            "the {field} `{}` contains the control character U+{:04X}; use printable text",
            visible(value),
            u32::from(c)
        )),
    }
}

/// A URI an admin registers (redirect URIs, logo and policy URLs, CORS origins,
/// audiences): ASCII only, no controls and no spaces.
pub fn check_uri_chars(field: &str, value: &str) -> Result<(), String> {
    if !value.is_ascii() {
        return Err(format!(
            "the {field} `{}` must be ASCII: percent-encode other characters (RFC 3986 §2.1) \
             and write international domain names in their xn-- form (RFC 5890)",
            visible_ascii(value)
        ));
    }
    if value.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return Err(format!(
            "the {field} `{}` contains whitespace or a control character",
            visible_ascii(value)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_in_any_script_but_no_controls() {
        assert!(check_printable("name", "Café 東京 — Ünïcödé").is_ok());
        for bad in [
            "a\u{1b}[31mred",
            "tab\there",
            "new\nline",
            "del\u{7f}",
            "csi\u{9b}1m",
            "Evil \u{202e}ppA",
            "iso\u{2066}late",
            "mark\u{200f}",
        ] {
            let e = check_printable("description", bad).unwrap_err();
            assert!(e.contains("description"), "{e}");
            assert!(!e.chars().any(is_forbidden_in_text), "escaped: {e:?}");
        }
    }

    #[test]
    fn uris_are_ascii() {
        assert!(check_uri_chars("redirect URI", "https://xn--pp-dka.example/cb?a=%C3%A4").is_ok());
        for bad in [
            "https://app.example/\u{202e}cb",
            "https://äpp.example/cb",
            "https://app.example/c b",
            "https://app.example/\u{1b}",
        ] {
            let e = check_uri_chars("redirect URI", bad).unwrap_err();
            assert!(e.contains("redirect URI"), "{e}");
            assert!(
                !e.chars().any(|c| is_forbidden_in_text(c) || c == 'ä'),
                "{e:?}"
            );
        }
    }

    #[test]
    fn visible_escapes_only_what_it_must() {
        assert_eq!(visible("plain Café"), "plain Café");
        assert_eq!(visible("a\u{1b}b"), "a\\u{1b}b");
        assert_eq!(visible("\u{202e}x"), "\\u{202e}x");
    }
}
