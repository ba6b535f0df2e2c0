//! Password hashing for the built-in user store: argon2id with the OWASP parameters
//! (19 MiB, 2 iterations, 1 lane). An unknown user is checked against a dummy hash, so
//! "no such user" and "wrong password" take the same time (checklist C10, H1).

use argon2::password_hash::{PasswordHash as Phc, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use valet_store::PasswordHash;

/// Longest password accepted: enough for any passphrase, short of a hashing DoS.
pub const MAX_PASSWORD_LEN: usize = 1024;
pub const MIN_PASSWORD_LEN: usize = 8;

pub struct Passwords {
    argon: Argon2<'static>,
    /// Hashed on first need: creating a user never pays for it.
    dummy: std::sync::OnceLock<Option<String>>,
}

impl Passwords {
    pub fn new() -> Result<Self, String> {
        let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| e.to_string())?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        Ok(Self {
            argon,
            dummy: std::sync::OnceLock::new(),
        })
    }

    pub fn check_policy(password: &str) -> Result<(), String> {
        let n = password.chars().count();
        if n < MIN_PASSWORD_LEN {
            return Err(format!(
                "a password has at least {MIN_PASSWORD_LEN} characters"
            ));
        }
        if password.len() > MAX_PASSWORD_LEN {
            return Err(format!("a password has at most {MAX_PASSWORD_LEN} bytes"));
        }
        Ok(())
    }

    pub fn hash(&self, password: &str) -> Result<PasswordHash, String> {
        let salt = new_salt()?;
        self.argon
            .hash_password(password.as_bytes(), &salt)
            .map(|h| PasswordHash(h.to_string()))
            .map_err(|e| e.to_string())
    }

    /// True when `password` matches `stored`. With no stored hash (unknown user, or a
    /// user without a password) the work is done against the dummy and the answer is no.
    pub fn verify(&self, password: &str, stored: Option<&PasswordHash>) -> bool {
        if password.len() > MAX_PASSWORD_LEN {
            return false;
        }
        let dummy = || {
            self.dummy
                .get_or_init(|| self.hash("valet dummy password").ok().map(|h| h.0))
                .as_deref()
                .unwrap_or("")
        };
        let (phc, real) = match stored {
            Some(h) => (h.0.as_str(), true),
            None => (dummy(), false),
        };
        let Ok(parsed) = Phc::new(phc) else {
            return false;
        };
        let ok = self
            .argon
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && real
    }
}

/// 16 random bytes from the system generator (RFC 9106 §3.1 recommends 128-bit salts).
fn new_salt() -> Result<SaltString, String> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| "the system random generator failed".to_string())?;
    SaltString::encode_b64(&bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let p = Passwords::new().unwrap();
        let h = p.hash("correct horse battery").unwrap();
        assert!(
            h.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            h.0
        );
        assert!(p.verify("correct horse battery", Some(&h)));
        assert!(!p.verify("correct horse batterx", Some(&h)));
        assert!(
            !p.verify("valet dummy password", None),
            "the dummy never signs anyone in"
        );
        assert!(!p.verify("x", Some(&PasswordHash("not a phc string".into()))));
        assert_ne!(p.hash("same").unwrap(), p.hash("same").unwrap(), "salted");
    }

    #[test]
    fn policy() {
        assert!(Passwords::check_policy("short").is_err());
        assert!(Passwords::check_policy("long enough").is_ok());
        assert!(Passwords::check_policy(&"x".repeat(MAX_PASSWORD_LEN + 1)).is_err());
    }
}
