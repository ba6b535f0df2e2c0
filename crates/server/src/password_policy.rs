//! What a new password must be, wherever one is set (the CLI, the admin API and console,
//! a reset link, the account page, sign-up): NIST SP 800-63B §5.1.1.2 — at least 8
//! characters, any characters (spaces and Unicode included), no composition rules, and not
//! one of the passwords attackers try first. That list is the 10,000 most common passwords
//! of 8 characters or more (`data/common-passwords.txt`, where it comes from is in
//! `data/README.md`), compared ignoring case, so `Password1` is refused like `password1`.
//! Shorter ones need no list: the length rule refuses them.

use std::collections::HashSet;
use std::sync::LazyLock;

/// Fewest characters (Unicode scalar values) a password has (§5.1.1.2: at least 8).
pub const MIN_LEN: usize = 8;
/// Longest password accepted: enough for any passphrase, short of a hashing DoS
/// (§5.1.1.2 asks for at least 64).
pub const MAX_LEN: usize = 1024;

const LIST: &str = include_str!("../data/common-passwords.txt");

/// The list, parsed on first use (a few hundred microseconds, once per process).
static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| LIST.lines().filter(|l| !l.is_empty()).collect());

/// How many passwords the list holds (for messages and tests).
pub fn common_count() -> usize {
    COMMON.len()
}

/// Whether `password` is on the list, in any case.
pub fn is_common(password: &str) -> bool {
    // Every entry has at most 64 bytes: a longer password is no entry, and is not
    // lower-cased for nothing.
    password.len() <= 64 && COMMON.contains(password.to_lowercase().as_str())
}

/// The rule, with a message a person can act on (shown as is on the pages and by the CLI).
pub fn check(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LEN {
        return Err(format!("a password has at least {MIN_LEN} characters"));
    }
    if password.len() > MAX_LEN {
        return Err(format!("a password has at most {MAX_LEN} bytes"));
    }
    if is_common(password) {
        return Err(
            "that password is too common: it is one of the most used passwords, \
                    which attackers try first; choose another (a few unrelated words make \
                    a good one)"
                .into(),
        );
    }
    Ok(())
}

/// `check`, and not one of `context`: words of the account itself, such as its username
/// or email address (§5.1.1.2: "context-specific words, such as … the username").
pub fn check_with(password: &str, context: &[&str]) -> Result<(), String> {
    check(password)?;
    let lower = password.to_lowercase();
    let mut words: Vec<String> = Vec::new();
    for c in context.iter().filter(|c| !c.is_empty()) {
        words.push(c.to_lowercase());
        if let Some((local, _)) = c.split_once('@') {
            words.push(local.to_lowercase());
        }
    }
    if words.contains(&lower) {
        return Err("a password cannot be your username or email address".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_the_ten_thousand_it_says_in_lower_case() {
        assert_eq!(common_count(), 10_000);
        for l in LIST.lines() {
            assert_eq!(l, l.to_lowercase(), "{l}");
            assert!(l.chars().count() >= MIN_LEN && l.len() <= 64, "{l}");
        }
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        for p in [
            "password",
            "PassWord",
            "12345678",
            "iloveyou",
            "Trustno1",
            "qwertyuiop",
        ] {
            let e = check(p).unwrap_err();
            assert!(e.contains("too common"), "{p}: {e}");
        }
    }

    #[test]
    fn length_not_composition() {
        assert!(check("short").unwrap_err().contains("at least 8"));
        assert!(check(&"x".repeat(MAX_LEN + 1)).is_err());
        // No rule asks for digits, capitals or symbols.
        assert!(check("correct horse battery staple").is_ok());
        assert!(check("wkqpzmvb").is_ok());
        // Characters, not bytes: eight of them, whatever their script.
        assert!(check("ñandúñan").is_ok());
        assert!(check("ñandú").is_err());
    }

    #[test]
    fn the_accounts_own_words_are_refused() {
        let ctx = ["maxwell.smart", "agent86@control.example"];
        assert!(check_with("Maxwell.Smart", &ctx).is_err());
        assert!(check_with("agent86@control.example", &ctx).is_err());
        assert!(check_with("AGENT86x", &["agent86x@control.example"]).is_err());
        assert!(check_with("a different phrase", &ctx).is_ok());
        assert!(check_with("a different phrase", &["", "x"]).is_ok());
    }
}
