//! Attempt counters shared by every node (sign-in backoff, checklist C10 and H1; RFC 6819
//! §4.4.3.6 and §5.1.4.2.3). The rule is decided here, once, in plain Rust; each backend
//! only reads the rows, asks `ThrottleRule::apply`, and writes the answer back inside one
//! transaction, so two nodes racing on one counter are serialised by the database.
//!
//! A counter counts *attempts*, taken before the expensive work (an argon2id check), so
//! that forty parallel requests cannot all get through a check that runs before a count
//! made after. A success, or work that could not be done, gives its attempt back
//! (`throttle_refund`).

use crate::UnixTime;

/// The limits one counter is held to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleRule {
    /// Names the counter. Callers pass a digest, so no login name or address is stored.
    pub key: String,
    /// Seconds a window lasts; the count starts again after it.
    pub window: i64,
    /// Attempts allowed per window (`u32::MAX`: no hard limit).
    pub limit: u32,
    /// Attempts per window before consecutive attempts must be spaced out; past it the
    /// gap grows by a second for every further `free` attempts, up to `max_spacing`.
    /// `u32::MAX`: never spaced.
    pub free: u32,
    pub max_spacing: i64,
}

/// A counter as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleState {
    pub window_start: UnixTime,
    pub count: u32,
    /// No attempt is allowed before this instant.
    pub next_at: UnixTime,
}

/// What `Throttle::throttle_attempt` decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleDecision {
    /// Every counter took the attempt.
    Allowed,
    /// Some counter refused it (and none changed): retry after so many seconds (≥ 1).
    Refused { retry_after: i64 },
}

impl ThrottleRule {
    /// The counter after an attempt at `now`, or `Err(seconds to wait)` if the attempt is
    /// refused. A refused attempt changes nothing: refusals cannot extend a lockout, so a
    /// lockout always ends by itself.
    pub fn apply(&self, state: Option<ThrottleState>, now: UnixTime) -> Result<ThrottleState, i64> {
        let current = state.filter(|s| now < s.window_start.saturating_add(self.window));
        let Some(s) = current else {
            return Ok(ThrottleState {
                window_start: now,
                count: 1,
                next_at: now + self.spacing(1),
            });
        };
        if s.count >= self.limit {
            return Err((s.window_start + self.window - now).max(1));
        }
        if now < s.next_at {
            return Err((s.next_at - now).max(1));
        }
        let count = s.count.saturating_add(1);
        Ok(ThrottleState {
            window_start: s.window_start,
            count,
            next_at: now + self.spacing(count),
        })
    }

    /// The gap required after the `count`th attempt of a window.
    fn spacing(&self, count: u32) -> i64 {
        if count < self.free {
            return 0;
        }
        let over = i64::from(count - self.free);
        (1 + over / i64::from(self.free.max(1))).min(self.max_spacing)
    }

    /// When the stored counter no longer matters and may be purged.
    pub fn expires_at(&self, s: &ThrottleState) -> UnixTime {
        (s.window_start + self.window).max(s.next_at)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rule(limit: u32, free: u32) -> ThrottleRule {
        ThrottleRule {
            key: "k".into(),
            window: 60,
            limit,
            free,
            max_spacing: 5,
        }
    }

    #[test]
    fn a_hard_limit_refuses_until_the_window_ends_and_refusals_change_nothing() {
        let r = rule(3, u32::MAX);
        let mut s = None;
        for _ in 0..3 {
            s = Some(r.apply(s, 100).unwrap());
        }
        assert_eq!(r.apply(s, 130), Err(30));
        assert_eq!(r.apply(s, 159), Err(1));
        let fresh = r.apply(s, 160).unwrap();
        assert_eq!((fresh.count, fresh.window_start), (1, 160));
    }

    #[test]
    fn past_the_free_attempts_attempts_are_spaced_out_progressively() {
        let r = rule(u32::MAX, 2);
        let s1 = r.apply(None, 0).unwrap();
        assert_eq!(s1.next_at, 0, "the first attempt needs no gap");
        let s2 = r.apply(Some(s1), 0).unwrap();
        assert_eq!(s2.next_at, 1);
        assert_eq!(r.apply(Some(s2), 0), Err(1), "inside the gap");
        let s3 = r.apply(Some(s2), 1).unwrap();
        let s4 = r.apply(Some(s3), s3.next_at).unwrap();
        assert_eq!(s4.next_at - s3.next_at, 2, "the gap grows: {s3:?} {s4:?}");
        let busy = ThrottleState {
            window_start: 0,
            count: 1000,
            next_at: 10,
        };
        assert_eq!(
            r.apply(Some(busy), 10).unwrap().next_at,
            15,
            "the gap is capped"
        );
    }

    #[test]
    fn expiry_covers_the_window_and_the_gap() {
        let r = rule(10, 1);
        let s = r.apply(None, 100).unwrap();
        assert_eq!(r.expires_at(&s), 160);
        let s = ThrottleState {
            window_start: 100,
            count: 5,
            next_at: 200,
        };
        assert_eq!(r.expires_at(&s), 200);
    }
}
