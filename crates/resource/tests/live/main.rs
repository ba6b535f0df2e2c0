//! The resource-server crate against a live Valet (checklist K, from an API's side): the
//! real server on a random port over TLS, a small API protected by `valet-resource`
//! called in-process. One test binary, one module per concern.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dpop;
mod harness;
mod http;
mod introspection;
mod local;
mod opaque;
mod rotation;
