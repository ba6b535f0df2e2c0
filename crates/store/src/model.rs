//! Records as stored. `Debug` never prints secret material, hashed or sealed.

use std::fmt;
use valet_protocol::UnixTime;
use valet_protocol::application::Application;
use valet_protocol::audience::Api;
use valet_protocol::keys::KeyTimes;
use valet_protocol::user::UserClaims;

/// A keyed hash of a client secret (HMAC-SHA-256); see `valet-server`'s secrets module.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash(pub Vec<u8>);

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash([redacted])")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    pub app: Application,
    /// `None` for public applications.
    pub secret: Option<SecretHash>,
    /// The secret before the last rotation, valid until the given instant.
    pub previous_secret: Option<(SecretHash, UnixTime)>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// A password hash (argon2id PHC string). `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([redacted])")
    }
}

/// A user of the built-in user store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The OIDC `sub`: random, stable, never reassigned.
    pub id: String,
    pub username: String,
    pub claims: UserClaims,
    /// `None` for a user who cannot sign in with a password.
    pub password_hash: Option<PasswordHash>,
    pub disabled: bool,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// An authorization code as stored: its SHA-256, never the code itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub hash: Vec<u8>,
    pub client_id: String,
    /// The grant every token issued from this code belongs to.
    pub grant_id: String,
    /// The protocol's JSON: redirect_uri, scope, PKCE challenge, nonce, user, …
    pub details: String,
    pub expires_at: UnixTime,
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeUse {
    /// This call redeemed the code; no other call ever will.
    Fresh(CodeRecord),
    /// The code was redeemed before: the caller should revoke `grant_id` (RFC 6749 §10.5).
    Replayed(CodeRecord),
    /// No such code, or it expired unused.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRecord {
    pub name: String,
    pub api: Api,
    pub created_at: UnixTime,
}

#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub times: KeyTimes,
    /// PKCS#8 private key sealed with the master key.
    pub sealed_private: Vec<u8>,
    /// The public JWK, as JSON.
    pub public_jwk: String,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("times", &self.times)
            .field("sealed_private", &"[redacted]")
            .finish()
    }
}
