//! Valet's OAuth 2.0 and OpenID Connect rules as pure functions: parsed requests in,
//! decisions out. No I/O, no clock and no randomness: `now` (Unix seconds) and fresh
//! random values are arguments, so every rule is testable with a fixed clock.
//! Signing and storage live elsewhere (`valet-jose`, `valet-store`).

pub mod access_token;
pub mod advisor;
pub mod application;
pub mod assurance;
pub mod audience;
pub mod authorization_code;
pub mod authorize;
pub mod backchannel;
pub mod cimd;
pub mod client_assertion;
pub mod client_auth;
pub mod client_credentials;
pub mod consent;
pub mod device;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod id_token;
pub mod implicit;
pub mod introspection;
pub mod jwt_bearer;
pub mod keys;
pub mod logout;
pub mod mfa;
pub mod opaque_token;
pub mod params;
pub mod password;
pub mod pkce;
pub mod redirect_uri;
pub mod refresh;
pub mod refresh_chain;
pub mod registration;
pub mod request_object;
pub mod response;
pub mod revocation;
pub mod scope;
pub mod text;
pub mod token;
pub mod token_exchange;
pub mod upstream;
pub mod user;
pub mod withdraw;

pub use error::{ErrorCode, OAuthError};

/// Seconds since the Unix epoch. Every rule that depends on time takes one of these.
pub type UnixTime = i64;
