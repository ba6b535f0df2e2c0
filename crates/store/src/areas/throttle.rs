//! Attempt counters, shared by every node (the rule itself is `crate::throttle`).

use async_trait::async_trait;

use crate::{Result, ThrottleDecision, ThrottleRule, UnixTime};

#[async_trait]
pub trait Throttle {
    /// One attempt against every rule, decided in one transaction (`throttle.rs`): either
    /// every counter takes it (`Allowed`), or none changes and the caller waits
    /// (`Refused`). Concurrent attempts on any number of nodes are counted one by one, so
    /// no more than a rule's limit is ever allowed in its window.
    async fn throttle_attempt(
        &self,
        rules: &[ThrottleRule],
        now: UnixTime,
    ) -> Result<ThrottleDecision>;
    /// Gives one attempt back to each counter (an attempt that succeeded, or whose work
    /// could not be done). A counter never goes below zero.
    async fn throttle_refund(&self, keys: &[String]) -> Result<()>;
    /// Remembers `key` until `until` (an address an account signed in from).
    async fn throttle_mark(&self, key: &str, now: UnixTime, until: UnixTime) -> Result<()>;
    /// Whether `key` is remembered at `now`.
    async fn throttle_marked(&self, key: &str, now: UnixTime) -> Result<bool>;
}
