//! Valet as operators run it in production: several `valet serve` processes over one
//! database behind one issuer URL (multi_node.rs), and nodes killed with SIGKILL under load
//! (crash.rs). PostgreSQL tests need `VALET_TEST_POSTGRES` at build time (see build.rs);
//! the SQLite ones always run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod crash;
mod multi_node;
mod node;
mod throttle;
