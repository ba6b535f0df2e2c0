//! What an API needs to accept Valet's access tokens.
//!
//! A [`Validator`] knows one issuer and this API's audience. In [`Mode::Local`] it checks
//! JWT access tokens (RFC 9068) itself: keys from the issuer's JWKS (found through RFC 8414
//! discovery), cached, refetched on an unknown `kid` (rate-limited) and periodically, each
//! key pinned to its one algorithm; then `typ: at+jwt`, `iss`, `aud` and the time claims
//! with `valet_protocol`'s bounded leeway, and remembers a verified token by its hash for
//! a short time so its next use costs no signature check. In [`Mode::Introspection`] it
//! asks the issuer (RFC 7662) and caches positive answers for a short, bounded time; the
//! API's client credentials must be those of an application the API names as its
//! introspector (`valet api create --audience … --introspector CLIENT_ID`), because
//! Valet answers `{"active":false}` about a token to anyone but its own application and
//! the introspectors of the APIs in its `aud` (RFC 7662 §2.2, §4).
//!
//! On the HTTP side, [`RequireToken`] is a tower layer and [`Authenticated`] and
//! [`Scoped`] are axum extractors; all answer 401 and 403 with RFC 6750
//! `WWW-Authenticate` challenges that point at this API's RFC 9728 metadata, which
//! [`Validator::metadata_router`] serves.
//!
//! DPoP (RFC 9449 §7): a token under the `DPoP` scheme is accepted with a proof of the
//! key it is bound to, made for this request (`htu` is [`Config::public_url`] plus the
//! path), checked on every request and used once (remembered per process); a DPoP-bound
//! token sent as `Bearer` is refused; the challenges are then `DPoP` with `algs`.
//!
//! Left out: mTLS-bound tokens, tokens in a form body or query string (RFC 6750
//! §2.2–2.3; only the `Authorization` header is read), and issuers other than Valet that
//! omit `kid` or `alg` from their keys.

mod cache;
mod dpop;
mod http;
mod introspection;
mod jwks;
mod metadata;
mod validator;

pub use http::{Authenticated, Rejection, RequireToken, RequireTokenService, ScopeName, Scoped};
pub use metadata::metadata_url;
/// The HTTP client type [`Config::http_client`] takes (for custom root certificates).
pub use reqwest;
/// The claims of an accepted access token (RFC 9068 §2.2): `sub`, `client_id`, `scope`,
/// `aud`, `exp`, `jti`, and `grant_id` for a user's token.
pub use valet_protocol::access_token::AccessTokenClaims as Claims;
pub use validator::{Config, Error, Mode, Validator};
