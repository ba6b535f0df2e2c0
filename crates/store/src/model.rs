//! Records as stored. `Debug` never prints secret material, hashed or sealed.

use std::fmt;
use valet_protocol::UnixTime;
use valet_protocol::application::Application;
use valet_protocol::audience::Api;
use valet_protocol::authorization_code::GrantState;
use valet_protocol::keys::KeyTimes;
pub use valet_protocol::user::Role;
use valet_protocol::user::UserClaims;

/// What the store keys a bearer secret by: the SHA-256 of an authorization code, a refresh
/// token, an opaque access token, a session cookie or a device code, or the keyed hash
/// (HMAC) of a device user code. Never the secret itself, but enough to find and use what
/// it stands for in the database, so `Debug` never prints it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(Vec<u8>);

impl TokenHash {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for TokenHash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash([redacted])")
    }
}

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
    /// What the user may do in Valet's administration.
    pub role: Role,
    /// A user who signed up (issue 16) and has not yet followed the link emailed to their
    /// address: until then they cannot sign in, and the purge deletes them once this time
    /// passes. `None` for every other user.
    pub pending_until: Option<UnixTime>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// An authorization code as stored: its SHA-256, never the code itself.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub hash: TokenHash,
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
            .field("hash", &self.hash)
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
    pub session: Option<TokenHash>,
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
            .field("session", &self.session)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What a grant's tokens may still carry (`Grants::grant_scope`): whether it was revoked,
/// and, once its user withdrew a scope of it (`Consents::withdraw_scope`), its scope now
/// and when it last changed. An unknown grant is neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantScope {
    pub revoked: bool,
    pub narrowed: Option<(String, UnixTime)>,
}

/// `scope` (space-delimited) without the token `token`.
pub(crate) fn scope_without(scope: &str, token: &str) -> String {
    scope
        .split(' ')
        .filter(|t| !t.is_empty() && *t != token)
        .collect::<Vec<_>>()
        .join(" ")
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
    pub id_hash: TokenHash,
    pub user_id: String,
    /// When the user last entered their password (OIDC `auth_time`).
    pub auth_time: UnixTime,
    /// How the user signed in: RFC 8176 method references (`pwd`, `otp`, `mfa`).
    pub amr: Vec<String>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// The address it was signed in from and the browser's `User-Agent` (cut short by
    /// the server), shown to the user on /account; kept out of `Debug`.
    pub address: Option<String>,
    pub user_agent: Option<String>,
    /// When a request last came with it; recorded at most every few minutes
    /// (`Sessions::touch_session`).
    pub last_used_at: UnixTime,
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("id_hash", &self.id_hash)
            .field("user_id", &self.user_id)
            .field("auth_time", &self.auth_time)
            .field("amr", &self.amr)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A refresh token as stored: its SHA-256, never the token.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub hash: TokenHash,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    /// The protocol's JSON (scope, audience, auth_time, …), opaque to the store.
    pub details: String,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
    /// Set once, by the one call that rotated this token.
    pub rotated_at: Option<UnixTime>,
    /// The chain it belongs to (16 random bytes, base64url, also inside the token) and its
    /// place in it: 0 for the first token, one more per rotation. A rotation keeps only
    /// the chain's two newest tokens; an older one is known to be reused by its chain and
    /// generation alone. `None` for tokens from before chains (kept until they expire).
    /// Never printed: with the generation it is enough to have a grant revoked.
    pub chain: Option<String>,
    pub generation: i64,
}

impl fmt::Debug for RefreshTokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenRecord")
            .field("hash", &self.hash)
            .field("grant_id", &self.grant_id)
            .field("client_id", &self.client_id)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("rotated_at", &self.rotated_at)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
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
    pub hash: TokenHash,
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
            .field("hash", &self.hash)
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
    pub device_hash: TokenHash,
    pub user_code_hash: TokenHash,
    pub client_id: String,
    /// The protocol's JSON: the scope and audience selected at the request.
    pub details: String,
    pub status: DeviceStatus,
    /// Set at approval: who allowed it, when they signed in, the grant it started.
    pub user_id: Option<String>,
    pub auth_time: Option<UnixTime>,
    /// How the approving session signed in (RFC 8176); empty before the approval.
    pub amr: Vec<String>,
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
            .field("device_hash", &self.device_hash)
            .field("user_code_hash", &self.user_code_hash)
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
        /// The approving session's `amr`.
        amr: Vec<String>,
    },
    Deny,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 0xab prints as `171` in a derived `Debug` of bytes, and as `ab` in hex.
    fn leaks(printed: &str) -> bool {
        printed.contains("171") || printed.to_lowercase().contains("abab")
    }

    fn grant() -> GrantRecord {
        GrantRecord {
            grant_id: "g1".into(),
            client_id: "c1".into(),
            user_id: "u1".into(),
            scope: "openid".into(),
            session: Some(TokenHash::new([0xab; 32])),
            created_at: 1,
            expires_at: 2,
        }
    }

    #[test]
    fn token_hash_debug_is_redacted() {
        let hash = TokenHash::new([0xab; 32]);
        assert_eq!(format!("{hash:?}"), "TokenHash([redacted])");
        assert_eq!(format!("{hash:#?}"), "TokenHash([redacted])");
        assert_eq!(hash.as_bytes(), &[0xab; 32]);
    }

    #[test]
    fn records_never_print_hashes_keys_or_sealed_values() {
        let h = || TokenHash::new([0xab; 32]);
        let code = CodeRecord {
            hash: h(),
            client_id: "c1".into(),
            grant_id: "g1".into(),
            details: "{}".into(),
            expires_at: 1,
        };
        let printed = [
            format!("{:?}", CodeUse::Replayed(code.clone())),
            format!("{code:?}"),
            format!("{:?}", grant()),
            format!(
                "{:?}",
                DeviceDecision::Approve {
                    grant: grant(),
                    auth_time: 1,
                    amr: vec![],
                }
            ),
            format!(
                "{:?}",
                SessionRecord {
                    id_hash: h(),
                    user_id: "u1".into(),
                    auth_time: 1,
                    amr: vec!["pwd".into()],
                    created_at: 1,
                    expires_at: 2,
                    address: None,
                    user_agent: None,
                    last_used_at: 1,
                }
            ),
            format!(
                "{:?}",
                RefreshTokenRecord {
                    hash: h(),
                    grant_id: "g1".into(),
                    client_id: "c1".into(),
                    user_id: "u1".into(),
                    details: "{}".into(),
                    issued_at: 1,
                    expires_at: 2,
                    rotated_at: None,
                    chain: Some("abab171".into()),
                    generation: 3,
                }
            ),
            format!(
                "{:?}",
                Rotation::AlreadyRotated {
                    at: 1,
                    successor: Some(vec![0xab; 16]),
                }
            ),
            format!(
                "{:?}",
                OpaqueAccessTokenRecord {
                    hash: h(),
                    client_id: "c1".into(),
                    subject: "u1".into(),
                    grant_id: Some("g1".into()),
                    claims: "{}".into(),
                    issued_at: 1,
                    expires_at: 2,
                }
            ),
            format!(
                "{:?}",
                DeviceCodeRecord {
                    device_hash: h(),
                    user_code_hash: TokenHash::new([0xab; 32]),
                    client_id: "c1".into(),
                    details: "{}".into(),
                    status: DeviceStatus::Pending,
                    user_id: None,
                    auth_time: None,
                    amr: vec![],
                    grant_id: None,
                    interval: 5,
                    last_poll_at: 1,
                    created_at: 1,
                    expires_at: 2,
                    redeemed_at: None,
                }
            ),
            format!(
                "{:?}",
                SigningKeyRecord {
                    times: KeyTimes {
                        kid: "k1".into(),
                        alg: "ES256".into(),
                        created_at: 1,
                        activates_at: 1,
                        publish_until: None,
                    },
                    sealed_private: vec![0xab; 40],
                    public_jwk: "{}".into(),
                }
            ),
            format!(
                "{:?}",
                UserRecord {
                    id: "u1".into(),
                    username: "ann".into(),
                    claims: UserClaims::default(),
                    password_hash: Some(PasswordHash("$argon2id$abab171".into())),
                    disabled: false,
                    role: Role::Admin,
                    pending_until: None,
                    created_at: 1,
                    updated_at: 1,
                }
            ),
            format!("{:?}", SecretHash(vec![0xab; 32])),
        ];
        for p in printed {
            assert!(!leaks(&p), "{p}");
            assert!(p.contains("[redacted]"), "{p}");
        }
    }
}
