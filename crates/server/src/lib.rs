//! Valet's HTTP face: axum routes (one file per endpoint), client authentication, the
//! node's keyring and caches, and administration shared with the CLI. Only this crate
//! knows HTTP; `error.rs` is the one place errors become responses.

pub mod admin;
mod app;
pub mod audit;
pub mod backchannel;
mod body;
pub mod brand;
mod catalog;
pub mod cimd;
mod client_auth;
mod client_keys;
pub mod clock;
pub mod config;
mod connections;
mod cors;
pub mod crypto;
pub mod doctor;
mod dpop;
mod error;
pub mod fault;
mod form;
mod image;
mod interaction;
mod issue;
mod jar;
mod key_schedule;
pub mod keyring;
mod logos;
pub mod mail;
pub mod master_key;
mod metrics;
mod mfa;
mod outbound_tls;
mod pages;
mod pairwise;
mod passkeys;
pub mod password_policy;
pub mod passwords;
mod refresh_lookup;
pub mod registration;
mod request_id;
mod routes;
mod session;
mod state;
mod throttle;
mod tokens;
pub mod trusted_issuers;
pub mod upstream;
pub mod users;

pub use app::{StartError, Valet, open_store};
pub use clock::{Clock, ManualClock, SystemClock};
