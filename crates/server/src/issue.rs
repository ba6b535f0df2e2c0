//! Minting tokens: access tokens, as JWTs (RFC 9068, ES256) or opaque (stored only as
//! SHA-256) as the application and the APIs of the audience want; ID tokens (OIDC Core
//! §2, RS256 as §15.1 requires support for) and opaque refresh tokens (stored only as
//! SHA-256). Shared by the token endpoint and the authorization endpoint (implicit
//! responses). Issuing a JWT access token or an ID token writes nothing; an opaque access
//! token is one insert.

use serde::{Deserialize, Serialize};
use valet_jose::Algorithm;
use valet_protocol::UnixTime;
use valet_protocol::access_token::{AccessTokenClaims, Issue, TYP};
use valet_protocol::application::{Application, GrantType};
use valet_protocol::audience::Selection;
use valet_protocol::id_token::{IdToken, IdTokenClaims};
use valet_protocol::opaque_token::{self, AccessTokenFormat};
use valet_protocol::refresh::RefreshDetails;
use valet_store::{OpaqueAccessTokenRecord, RefreshTokenRecord};

use crate::crypto::{half_hash, random_token, sha256};
use crate::error::ApiError;
use crate::state::AppState;
use crate::users::User;

/// RFC 6749 §5.1 successful response (OIDC Core §3.1.3.3 adds `id_token`). `Debug`
/// never prints the tokens.
#[derive(Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("id_token", &self.id_token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Who gets what: the decided grant.
pub struct ForUser<'a> {
    pub app: &'a Application,
    pub user: &'a User,
    pub grant_id: &'a str,
    pub selection: &'a Selection,
    pub auth_time: UnixTime,
    pub nonce: Option<&'a str>,
}

/// A user's access token and its claims.
pub async fn access_token(
    state: &AppState,
    t: &ForUser<'_>,
    now: UnixTime,
) -> Result<(String, AccessTokenClaims), ApiError> {
    // A user's token never carries valet:admin (issue 12, item 11), even from a code or
    // registration made before that rule.
    t.app.check_admin_scope(&t.selection.scope, true)?;
    let mut claims = AccessTokenClaims::new(Issue {
        issuer: &state.settings.issuer,
        subject: &t.user.id,
        client_id: &t.app.client_id,
        selection: t.selection,
        now,
        ttl: state.settings.access_token_ttl,
        jti: random_token(16).map_err(ApiError::Internal)?,
    });
    claims.auth_time = Some(t.auth_time);
    claims.grant_id = Some(t.grant_id.to_owned());
    let token = mint_access_token(state, t.app, &claims, now).await?;
    Ok((token, claims))
}

/// The access token that carries `claims`, in the format `opaque_token::format_for`
/// picks: a signed JWT (nothing written), or an opaque token whose hash is stored with
/// the claims (one insert; the token is only returned once it is committed). `now` is the
/// request's, the one `claims` were made at; it picks the signing key.
pub async fn mint_access_token(
    state: &AppState,
    app: &Application,
    claims: &AccessTokenClaims,
    now: UnixTime,
) -> Result<String, ApiError> {
    let apis = state.catalog.apis().await?;
    match opaque_token::format_for(app, &claims.aud, &apis) {
        AccessTokenFormat::Jwt => sign(state, Algorithm::ES256, TYP, claims, now),
        AccessTokenFormat::Opaque => {
            let random = random_token(opaque_token::RANDOM_BYTES).map_err(ApiError::Internal)?;
            let token = opaque_token::token(&random);
            let record = OpaqueAccessTokenRecord {
                hash: sha256(token.as_bytes()),
                client_id: claims.client_id.clone(),
                subject: claims.sub.clone(),
                grant_id: claims.grant_id.clone(),
                claims: serde_json::to_string(claims)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
                issued_at: claims.iat,
                expires_at: claims.exp,
            };
            state.store.insert_opaque_access_token(&record).await?;
            Ok(token)
        }
    }
}

/// An ID token; `access_token` and `code` give `at_hash` and `c_hash`, and `claims` are
/// user claims to embed (only when no access token can fetch them from UserInfo).
pub fn id_token(
    state: &AppState,
    t: &ForUser<'_>,
    now: UnixTime,
    access_token: Option<&str>,
    code: Option<&str>,
    claims: serde_json::Map<String, serde_json::Value>,
) -> Result<String, ApiError> {
    let c = IdTokenClaims::new(IdToken {
        issuer: &state.settings.issuer,
        subject: &t.user.id,
        client_id: &t.app.client_id,
        now,
        ttl: state.settings.access_token_ttl,
        auth_time: t.auth_time,
        nonce: t.nonce,
        at_hash: access_token.map(half_hash),
        c_hash: code.map(half_hash),
        claims,
    });
    sign(state, Algorithm::RS256, "JWT", &c, now)
}

/// A new refresh token of the grant: the token (for the client) and its record.
pub fn refresh_token(
    state: &AppState,
    t: &ForUser<'_>,
    now: UnixTime,
) -> Result<(String, RefreshTokenRecord), ApiError> {
    let token = random_token(32).map_err(ApiError::Internal)?;
    let details = RefreshDetails {
        scope: t.selection.scope.clone(),
        auth_time: t.auth_time,
    };
    let record = RefreshTokenRecord {
        hash: sha256(token.as_bytes()),
        grant_id: t.grant_id.to_owned(),
        client_id: t.app.client_id.clone(),
        user_id: t.user.id.clone(),
        details: serde_json::to_string(&details).map_err(|e| ApiError::Internal(e.to_string()))?,
        issued_at: now,
        expires_at: now + state.settings.refresh_token_ttl,
        rotated_at: None,
    };
    Ok((token, record))
}

/// The user of a grant, if they still exist and may sign in (asked of their store, a
/// directory included); a grant of a deleted or disabled user yields nothing more
/// (`invalid_grant`).
pub async fn grant_user(state: &AppState, user_id: &str) -> Result<User, ApiError> {
    match state.users.by_sub(user_id).await? {
        Some(u) => Ok(u),
        None => Err(valet_protocol::OAuthError::invalid_grant(
            "the user no longer exists or is disabled",
        )
        .into()),
    }
}

/// A refresh token for a grant whose application may refresh, stored; `None` otherwise.
pub async fn stored_refresh_token(
    state: &AppState,
    t: &ForUser<'_>,
    now: UnixTime,
) -> Result<Option<String>, ApiError> {
    if !t.app.allows_grant(GrantType::RefreshToken) {
        return Ok(None);
    }
    let (token, record) = refresh_token(state, t, now)?;
    state
        .store
        .insert_refresh_token(&record, grant_until(state, now))
        .await?;
    Ok(Some(token))
}

/// The access token and, for OpenID requests, the ID token of a token response.
pub async fn response(
    state: &AppState,
    t: &ForUser<'_>,
    now: UnixTime,
    refresh_token: Option<String>,
) -> Result<TokenResponse, ApiError> {
    let (access, claims) = access_token(state, t, now).await?;
    let id = if t.selection.scope.contains("openid") {
        Some(id_token(
            state,
            t,
            now,
            Some(&access),
            None,
            serde_json::Map::new(),
        )?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer".into(),
        expires_in: claims.exp - claims.iat,
        scope: claims.scope,
        refresh_token,
        id_token: id,
    })
}

/// Signs `claims` with the key that signs for `alg` at `now` (the caller's: signing does
/// not read the clock again).
fn sign<T: Serialize>(
    state: &AppState,
    alg: Algorithm,
    typ: &str,
    claims: &T,
    now: UnixTime,
) -> Result<String, ApiError> {
    let keys = state.keys.snapshot();
    let signer = keys
        .signer(alg, now)
        .ok_or_else(|| ApiError::Internal(format!("no {alg} signing key is active")))?;
    signer
        .sign(typ, claims)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// The grant's tokens outlive it by no more than this: the refresh token's lifetime plus
/// one access token's.
pub fn grant_until(state: &AppState, now: UnixTime) -> UnixTime {
    now + state.settings.refresh_token_ttl + state.settings.access_token_ttl
}
