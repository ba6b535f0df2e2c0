//! Records as stored. `Debug` never prints secret material, hashed or sealed.

use std::fmt;
use valet_protocol::UnixTime;
use valet_protocol::application::Application;
use valet_protocol::audience::Api;
use valet_protocol::authorization_code::GrantState;
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
#[derive(Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub hash: Vec<u8>,
    pub client_id: String,
    /// The grant every token issued from this code belongs to.
    pub grant_id: String,
    /// The protocol's JSON: redirect_uri, scope, PKCE challenge, nonce, user, …
    pub details: String,
    pub expires_at: UnixTime,
}

impl fmt::Debug for CodeRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeRecord")
            .field("hash", &"[redacted]")
            .field("client_id", &self.client_id)
            .field("grant_id", &self.grant_id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeUse {
    /// This call redeemed the code; no other call ever will. The grant's standing was read
    /// in the same transaction, before any racing replay could revoke the grant.
    Fresh(CodeRecord, GrantState),
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

/// A grant: one decision of a user letting an application act for them, and the family of
/// every token issued from it (the code, its access tokens, its refresh tokens). Revoking
/// the grant (`revoked_grants`) kills the whole family.
#[derive(Clone, PartialEq, Eq)]
pub struct GrantRecord {
    pub grant_id: String,
    pub client_id: String,
    /// The user's `sub`.
    pub user_id: String,
    /// Space-delimited scopes granted.
    pub scope: String,
    /// SHA-256 of the browser session the grant was made in, if any (logout ends the
    /// grants of its session that lack `offline_access`).
    pub session: Option<Vec<u8>>,
    pub created_at: UnixTime,
    /// When the last token of the grant expires; raised as refresh tokens are issued.
    pub expires_at: UnixTime,
}

impl fmt::Debug for GrantRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantRecord")
            .field("grant_id", &self.grant_id)
            .field("client_id", &self.client_id)
            .field("user_id", &self.user_id)
            .field("scope", &self.scope)
            .field("session", &self.session.as_ref().map(|_| "[redacted]"))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A user's remembered consent to an application (the consent page is skipped for scopes
/// already in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub user_id: String,
    pub client_id: String,
    /// Space-delimited scopes the user allowed.
    pub scope: String,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// A browser session (single sign-on), stored by the SHA-256 of its cookie value.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id_hash: Vec<u8>,
    pub user_id: String,
    /// When the user last entered their password (OIDC `auth_time`).
    pub auth_time: UnixTime,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("id_hash", &"[redacted]")
            .field("user_id", &self.user_id)
            .field("auth_time", &self.auth_time)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A refresh token as stored: its SHA-256, never the token.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub hash: Vec<u8>,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    /// The protocol's JSON (scope, audience, auth_time, …), opaque to the store.
    pub details: String,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
    /// Set once, by the one call that rotated this token.
    pub rotated_at: Option<UnixTime>,
}

impl fmt::Debug for RefreshTokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenRecord")
            .field("hash", &"[redacted]")
            .field("grant_id", &self.grant_id)
            .field("client_id", &self.client_id)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("rotated_at", &self.rotated_at)
            .finish()
    }
}

/// What rotating a refresh token found. `Debug` never prints the sealed successor.
#[derive(Clone, PartialEq, Eq)]
pub enum Rotation {
    /// This call rotated the token: the successor is stored; no other call ever will.
    Rotated,
    /// The token was rotated before, at `at`. `successor` is the sealed response stored by
    /// the rotation that won, while it is still kept (see `purge_expired`).
    AlreadyRotated {
        at: UnixTime,
        successor: Option<Vec<u8>>,
    },
    /// No such token (an expired one that was rotated still reads `AlreadyRotated` until
    /// purged, as a used code reads `Replayed`).
    Unknown,
}

impl fmt::Debug for Rotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rotated => f.write_str("Rotated"),
            Self::AlreadyRotated { at, successor } => f
                .debug_struct("AlreadyRotated")
                .field("at", at)
                .field("successor", &successor.as_ref().map(|_| "[redacted]"))
                .finish(),
            Self::Unknown => f.write_str("Unknown"),
        }
    }
}

/// An opaque access token as stored: its SHA-256, never the token.
#[derive(Clone, PartialEq, Eq)]
pub struct OpaqueAccessTokenRecord {
    pub hash: Vec<u8>,
    pub client_id: String,
    /// The token's `sub`: a user, or the application itself (client_credentials).
    pub subject: String,
    /// The grant a user's token belongs to; `None` for client_credentials.
    pub grant_id: Option<String>,
    /// The protocol's JSON: the claim set a JWT access token would carry, opaque to the
    /// store.
    pub claims: String,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
}

impl fmt::Debug for OpaqueAccessTokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpaqueAccessTokenRecord")
            .field("hash", &"[redacted]")
            .field("client_id", &self.client_id)
            .field("subject", &self.subject)
            .field("grant_id", &self.grant_id)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A device code of the device authorization grant (RFC 8628) as stored: the SHA-256 of
/// the device code (256 random bits) and a keyed hash of the user code (its ~34 bits
/// would fall to a brute force of a plain hash; an HMAC under a key the database does
/// not hold makes a dump alone useless), never either code itself.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceCodeRecord {
    pub device_hash: Vec<u8>,
    pub user_code_hash: Vec<u8>,
    pub client_id: String,
    /// The protocol's JSON: the scope and audience selected at the request.
    pub details: String,
    pub status: DeviceStatus,
    /// Set at approval: who allowed it, when they signed in, the grant it started.
    pub user_id: Option<String>,
    pub auth_time: Option<UnixTime>,
    pub grant_id: Option<String>,
    /// The minimum gap between polls, seconds; a `slow_down` raises it.
    pub interval: i64,
    /// The last poll, or the device authorization response before the first one.
    pub last_poll_at: UnixTime,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// Set by the one statement that redeems an approved code.
    pub redeemed_at: Option<UnixTime>,
}

pub use valet_protocol::device::Status as DeviceStatus;

impl fmt::Debug for DeviceCodeRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCodeRecord")
            .field("device_hash", &"[redacted]")
            .field("user_code_hash", &"[redacted]")
            .field("client_id", &self.client_id)
            .field("status", &self.status)
            .field("user_id", &self.user_id)
            .field("grant_id", &self.grant_id)
            .field("interval", &self.interval)
            .field("last_poll_at", &self.last_poll_at)
            .field("expires_at", &self.expires_at)
            .field("redeemed_at", &self.redeemed_at)
            .finish()
    }
}

/// A user's answer to a device code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceDecision {
    /// Allowed: the grant starts now (inserted with the approval, in one transaction).
    Approve {
        grant: GrantRecord,
        auth_time: UnixTime,
    },
    Deny,
}
