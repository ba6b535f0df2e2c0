//! Valet's HTTP face: axum routes (one file per endpoint), client authentication, the
//! node's keyring and caches, and administration shared with the CLI. Only this crate
//! knows HTTP; `error.rs` is the one place errors become responses.

pub mod admin;
mod app;
mod catalog;
mod client_auth;
pub mod config;
pub mod crypto;
mod error;
mod form;
pub mod keyring;
pub mod master_key;
pub mod passwords;
mod routes;
mod state;
mod throttle;
mod tokens;

pub use app::{Valet, open_store};
pub use state::now;
