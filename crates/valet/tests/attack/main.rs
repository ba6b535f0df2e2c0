//! Valet under attack, as an attacker on the network sees it (issue 12): the release
//! binary's own process, real parallel requests and raw sockets on loopback, every loop
//! bounded in count and time. `sign_in` races the brute-force limits and measures the
//! memory of parallel password checks; `connections` holds sockets open, idle or half
//! sent, and checks that others are still served.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod client;
mod connections;
mod sign_in;
