//! The `valet` binary as a user runs it: the README quickstart end to end, configuration
//! errors, the admin commands, graceful shutdown, and no secret in the logs (checklist N5).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod administer;
mod broken_log;
mod commands;
mod device;
mod environment;
mod help;
mod master_key;
mod mfa;
mod operations;
mod otlp;
mod quickstart;
mod registration;
mod self_registered;
mod sign_in;
