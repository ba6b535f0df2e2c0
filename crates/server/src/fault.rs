//! What can go wrong inside Valet itself, as opposed to what a caller did wrong: each
//! kind with its cause (`#[source]`), for the log. A caller only ever learns "internal
//! error" (`ApiError::Internal`, rendered in `error.rs`); the operator reads the chain.

use valet_jose::Algorithm;

#[derive(Debug, thiserror::Error)]
pub enum Fault {
    /// The operating system's random generator failed: nothing random can be drawn.
    #[error("the system random generator failed")]
    Random,
    /// AES-256-GCM refused a key or a plaintext.
    #[error("AES-256-GCM sealing failed")]
    Seal,
    /// A sealed value did not open under this node's master key.
    #[error(
        "a sealed value does not open: the master key differs from the one the database was created with"
    )]
    Unseal,
    /// A value of ours could not be written as JSON.
    #[error("could not encode {what} as JSON")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A record the store gave back is not what Valet wrote.
    #[error("unreadable {what} record")]
    Corrupt {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// No key signs for this algorithm now (`keyring.rs`).
    #[error("no {0} signing key is active")]
    NoSigningKey(Algorithm),
    #[error("signing failed")]
    Sign(#[from] valet_jose::JoseError),
    /// A user store failed in a way that is not an outage.
    #[error("user store {store} failed: {message}")]
    Users { store: String, message: String },
    /// A rule of Valet's own that did not hold; the text says which.
    #[error("{0}")]
    Invariant(&'static str),
}

impl Fault {
    /// For `map_err`: an encoding failure of `what`.
    pub fn encode(what: &'static str) -> impl FnOnce(serde_json::Error) -> Self {
        move |source| Self::Encode { what, source }
    }

    /// For `map_err`: a stored record of `what` that does not parse.
    pub fn corrupt(what: &'static str) -> impl FnOnce(serde_json::Error) -> Self {
        move |source| Self::Corrupt { what, source }
    }
}

/// The error and every cause under it, one line: what the log says.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_line_carries_every_cause() {
        let bad = serde_json::from_str::<u8>("x").unwrap_err();
        let f = Fault::corrupt("refresh token")(bad);
        let line = chain(&f);
        assert!(
            line.starts_with("unreadable refresh token record: "),
            "{line}"
        );
        assert!(line.contains("expected value"), "{line}");
        let e = crate::error::ApiError::from(f);
        assert!(chain(&e).contains("unreadable refresh token record"));
    }
}
