//! What a refresh token says about itself: the chain it belongs to and its generation.
//!
//! A rotation (RFC 9700 §4.14.2) retires the presented token and issues its successor;
//! to recognise a retired token when it comes back (reuse: the family is revoked), the
//! store once kept a row per token for the token's whole lifetime, so a grant that
//! refreshed every ten minutes grew without bound (issue 17). A token now carries its
//! chain (16 random bytes, fixed when the first token of a grant is issued) and its
//! generation (0, then one more per rotation), so the store keeps only the chain's two
//! newest tokens: the current one, and the one it replaced (for the retry window). A token
//! of an older generation is known to be a reused one by its chain and generation alone.
//!
//! Layout, base64url without padding (70 characters): chain (16 bytes) ‖ generation (4
//! bytes, big-endian) ‖ 32 fresh random bytes (RFC 6749 §10.10, 256 bits). Tokens issued
//! before chains are 43 characters (32 random bytes) and parse as none.
//!
//! Whoever can name a chain and a generation below its current one can have the grant
//! revoked without the token's random part (that part of an old token is not kept, so it
//! cannot be checked). Naming a chain takes having held one of its tokens, and whoever
//! held one could already revoke the family by replaying it once rotated; so the chain
//! is as secret as the tokens: never logged, never in another token, never printed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

pub const CHAIN_BYTES: usize = 16;
pub const RANDOM_BYTES: usize = 32;
const LEN: usize = CHAIN_BYTES + 4 + RANDOM_BYTES;

/// A refresh token's place: its chain (base64url of `CHAIN_BYTES`, as stored) and its
/// generation. `Debug` never prints the chain.
#[derive(Clone, PartialEq, Eq)]
pub struct Place {
    pub chain: String,
    pub generation: u32,
}

impl std::fmt::Debug for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Place")
            .field("chain", &"[redacted]")
            .field("generation", &self.generation)
            .finish()
    }
}

impl Place {
    /// The first token of a new chain.
    pub fn first(chain: &[u8; CHAIN_BYTES]) -> Self {
        Self {
            chain: B64.encode(chain),
            generation: 0,
        }
    }

    /// The successor's place: the same chain, one generation on. `None` once the
    /// generation counter is exhausted (after 2³² − 1 rotations), when the successor
    /// starts a new chain.
    pub fn next(&self) -> Option<Self> {
        Some(Self {
            chain: self.chain.clone(),
            generation: self.generation.checked_add(1)?,
        })
    }

    /// The token at this place with `random` as its secret part.
    pub fn token(&self, random: &[u8; RANDOM_BYTES]) -> Option<String> {
        let chain = B64.decode(&self.chain).ok()?;
        if chain.len() != CHAIN_BYTES {
            return None;
        }
        let mut bytes = Vec::with_capacity(LEN);
        bytes.extend_from_slice(&chain);
        bytes.extend_from_slice(&self.generation.to_be_bytes());
        bytes.extend_from_slice(random);
        Some(B64.encode(bytes))
    }

    /// The place a presented token claims; `None` for anything not of the layout (a
    /// token from before chains, or junk).
    pub fn of(token: &str) -> Option<Self> {
        if token.len() != (LEN * 8).div_ceil(6) {
            return None;
        }
        let bytes = B64.decode(token).ok()?;
        if bytes.len() != LEN {
            return None;
        }
        let (chain, rest) = bytes.split_at(CHAIN_BYTES);
        let generation = u32::from_be_bytes(rest[..4].try_into().ok()?);
        Some(Self {
            chain: B64.encode(chain),
            generation,
        })
    }
}

/// What a token the store does not know by its hash is, judged against its chain's
/// newest token (generation `head`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// Two or more generations behind: rotated, and no longer stored. It was reused.
    Reused,
    /// The current or the previous generation (both stored: the hash would have matched),
    /// or one not issued yet: not a token Valet issued.
    Forged,
}

pub fn judge(presented: u32, head: i64) -> Unknown {
    if i64::from(presented) + 2 <= head {
        Unknown::Reused
    } else {
        Unknown::Forged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_carries_its_chain_and_generation() {
        let first = Place::first(&[7; CHAIN_BYTES]);
        let token = first.token(&[9; RANDOM_BYTES]).unwrap();
        assert_eq!(token.len(), 70);
        assert_eq!(Place::of(&token), Some(first.clone()));
        let second = first.next().unwrap();
        assert_eq!(second.generation, 1);
        assert_eq!(second.chain, first.chain);
        let t2 = second.token(&[9; RANDOM_BYTES]).unwrap();
        assert_ne!(t2, token, "the generation is part of the token");
        assert_eq!(Place::of(&t2).unwrap().generation, 1);
    }

    #[test]
    fn older_tokens_and_junk_have_no_place() {
        // A token from before chains: 32 random bytes.
        assert_eq!(Place::of(&"A".repeat(43)), None);
        assert_eq!(Place::of(&"A".repeat(69)), None);
        assert_eq!(Place::of(&format!("{}=", "A".repeat(69))), None);
        assert_eq!(Place::of(&format!("{}.", "A".repeat(69))), None);
        assert_eq!(Place::of(""), None);
        // 70 characters that are not base64url.
        assert_eq!(Place::of(&"é".repeat(35)), None);
    }

    #[test]
    fn the_generation_counter_ends_rather_than_wrapping() {
        let last = Place {
            chain: B64.encode([1; CHAIN_BYTES]),
            generation: u32::MAX,
        };
        assert_eq!(last.next(), None);
    }

    #[test]
    fn only_generations_no_longer_stored_count_as_reuse() {
        assert_eq!(judge(0, 2), Unknown::Reused);
        assert_eq!(judge(5, 9), Unknown::Reused);
        assert_eq!(judge(1, 2), Unknown::Forged, "the previous one is stored");
        assert_eq!(judge(2, 2), Unknown::Forged, "the current one is stored");
        assert_eq!(judge(3, 2), Unknown::Forged, "not issued yet");
        assert_eq!(judge(u32::MAX, 0), Unknown::Forged);
    }

    #[test]
    fn debug_hides_the_chain() {
        let p = Place::first(&[0xab; CHAIN_BYTES]);
        assert!(!format!("{p:?}").contains(&p.chain));
    }
}
