//! HTTP integration tests: the real server on a random port over TLS, with a fresh SQLite
//! file each, driven by the `oauth2` crate (a client nobody here wrote) and by raw
//! requests for the bad-input cases. One test binary, one module per endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_api;
mod admin_apis;
mod admin_input;
mod admin_registrations;
mod admin_resources;
mod admin_scope;
mod app_logos;
mod authorize;
mod branding;
mod cimd;
mod client_auth;
mod clock;
mod code_flow;
mod code_lifetime;
mod conformance;
mod db_trouble;
mod deleted_users;
mod device;
mod device_abuse;
mod discovery;
mod dynamic_op;
mod expiry;
mod firewall;
mod flow;
mod harness;
mod introspection;
mod introspectors;
mod keys;
mod ldap;
mod loopback;
mod mfa;
mod opaque;
mod outside;
mod pages;
mod readiness;
mod refresh;
mod registration;
mod registration_firewall;
mod revocation;
mod sealed_forms;
mod slapd;
mod token;
mod usability;
