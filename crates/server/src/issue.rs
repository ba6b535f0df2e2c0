//! Minting tokens: the one place an [`Issuance`] (every grant's decision, see
//! `protocol::token`) becomes tokens and a response. Access tokens are JWTs (RFC 9068,
//! ES256) or opaque (stored only as SHA-256) as the application and the APIs of the
//! audience want; ID tokens follow OIDC Core §2 (RS256, as §15.1 requires support for);
//! refresh tokens are opaque and stored only as SHA-256. Used by the token endpoint and
//! the authorization endpoint (implicit responses). A JWT access token or an ID token
//! writes nothing; an opaque access token is one insert, a refresh token one insert (or
//! one rotation).

use serde::{Deserialize, Serialize};
use valet_jose::Algorithm;
use valet_protocol::access_token::{AccessTokenClaims, Cnf, Issue, TYP};
use valet_protocol::application::{Application, SigningAlg};
use valet_protocol::id_token::{IdToken, IdTokenClaims};
use valet_protocol::opaque_token::{self, AccessTokenFormat};
use valet_protocol::refresh::RefreshDetails;
use valet_protocol::refresh_chain::Place;
use valet_protocol::token::{Confirmation, IdTokenPlan, Issuance, Refresh, Subject};
use valet_protocol::{OAuthError, UnixTime};
use valet_store::{OpaqueAccessTokenRecord, RefreshTokenRecord, Rotation};

use crate::crypto::{b64, half_hash, random_bytes, random_token, sha256};
use crate::error::ApiError;
use crate::fault::Fault;
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
    /// RFC 8693 §2.2.1: what a token exchange issued (required there, absent elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<String>,
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

/// What was issued, committed.
pub struct Issued {
    access: Option<(String, AccessTokenClaims)>,
    id_token: Option<String>,
    refresh_token: Option<String>,
}

impl Issued {
    /// The token endpoint's answer (RFC 6749 §5.1; OIDC Core §3.1.3.3). Every token
    /// endpoint issuance has an access token.
    pub fn response(&self) -> Result<TokenResponse, ApiError> {
        let Some((token, claims)) = &self.access else {
            return Err(ApiError::invariant(
                "a token response without an access token",
            ));
        };
        Ok(TokenResponse {
            access_token: token.clone(),
            token_type: token_type(claims).into(),
            expires_in: claims.exp - claims.iat,
            scope: claims.scope.clone(),
            refresh_token: self.refresh_token.clone(),
            id_token: self.id_token.clone(),
            issued_token_type: None,
        })
    }

    /// The parameters of an authorization response that carries tokens (OIDC Core
    /// §3.2.2.5: `access_token`, `token_type`, `expires_in`, `scope`, `id_token`).
    pub fn authorization_response(self) -> Vec<(String, String)> {
        let mut params = Vec::new();
        if let Some((token, claims)) = self.access {
            params.push(("access_token".into(), token));
            params.push(("token_type".into(), token_type(&claims).into()));
            params.push(("expires_in".into(), (claims.exp - claims.iat).to_string()));
            if let Some(s) = claims.scope {
                params.push(("scope".into(), s));
            }
        }
        if let Some(jwt) = self.id_token {
            params.push(("id_token".into(), jwt));
        }
        params
    }
}

/// RFC 6750 `Bearer`, or RFC 9449 §5 `DPoP` for a token bound to a key.
fn token_type(claims: &AccessTokenClaims) -> &'static str {
    if claims.cnf.is_some() {
        "DPoP"
    } else {
        "Bearer"
    }
}

/// How an issuance ended.
pub enum Executed {
    Issued(Box<Issued>),
    /// The presented refresh token was rotated first by another request, at `at`; its
    /// response is `successor` (sealed) while the store keeps it. The caller decides
    /// between a retry and revoking the family (RFC 9700 §4.14.2).
    AlreadyRotated {
        at: UnixTime,
        successor: Option<Vec<u8>>,
    },
    /// The presented refresh token is gone (expired or purged in the meantime).
    RefreshTokenGone,
}

impl Executed {
    /// The tokens of an issuance that rotates nothing.
    pub fn issued(self) -> Result<Issued, ApiError> {
        match self {
            Self::Issued(i) => Ok(*i),
            _ => Err(ApiError::invariant("a rotation where none was asked for")),
        }
    }
}

/// Turns `issuance` into tokens, at `now` (the request's: nothing here reads the clock).
/// `presented` is the refresh token of the request, for `Refresh::Keep` (sent back) and
/// `Refresh::Rotate` (replaced: one atomic statement decides, after the response is
/// sealed for the retry window). Writes happen in this order: an opaque access token,
/// then the refresh token, so a response is only ever returned once all it carries is
/// committed; should a rotation be lost, the access token stored before it was never sent
/// and simply expires unused.
pub async fn execute(
    state: &AppState,
    app: &Application,
    i: &Issuance,
    presented: Option<&str>,
    now: UnixTime,
) -> Result<Executed, ApiError> {
    // A self-registered application's last use keeps it from expiring (issue 14); a
    // failure to record it never costs the response.
    let settings = &state.settings.registration;
    if let Err(e) = crate::registration::record_use(state.store.as_ref(), settings, app, now).await
    {
        tracing::warn!(client_id = %app.client_id, error = %e, "could not record a use");
    }
    let access = if i.access_token {
        Some(access_token(state, app, i, now).await?)
    } else {
        None
    };
    // The session the grant was made in names the ID token's `sid` (Back-Channel
    // Logout §2.1); a grant of the password grant has none.
    let sid = match (&i.id_token, i.grant_id()) {
        (Some(_), Some(g)) => state
            .store
            .grant(g)
            .await?
            .and_then(|g| g.session)
            .map(|h| crate::session::sid(&h)),
        _ => None,
    };
    let id_token = match (&i.id_token, &i.subject) {
        (Some(plan), Subject::User { .. }) => Some(id_token(
            state,
            app,
            sid,
            i,
            plan,
            access.as_ref().map(|(t, _)| t.as_str()),
            now,
        )?),
        _ => None,
    };
    let presented =
        || presented.ok_or_else(|| ApiError::invariant("no refresh token was presented"));
    let mut rotation = None;
    let refresh_token = match (&i.refresh, &i.subject) {
        (Refresh::None, _) | (_, Subject::Client { .. }) => None,
        (Refresh::Keep, _) => Some(presented()?.to_owned()),
        (Refresh::New(details), Subject::User { .. }) => {
            let (token, record) = refresh_token(state, app, i, details, None, now)?;
            state
                .store
                .insert_refresh_token(&record, grant_until(state, now))
                .await?;
            Some(token)
        }
        (Refresh::Rotate(details), Subject::User { .. }) => {
            // The successor takes the presented token's place, one generation on.
            let next = Place::of(presented()?).and_then(|p| p.next());
            let (token, record) = refresh_token(state, app, i, details, next, now)?;
            rotation = Some(record);
            Some(token)
        }
    };
    let issued = Issued {
        access,
        id_token,
        refresh_token,
    };
    if let Some(successor) = rotation {
        let hash = sha256(presented()?.as_bytes());
        let sealed = seal_response(state, hash.as_bytes(), &issued.response()?)?;
        match state
            .store
            .rotate_refresh_token(&hash, &successor, &sealed, grant_until(state, now), now)
            .await?
        {
            Rotation::Rotated => state.metrics.refresh_rotated(),
            Rotation::AlreadyRotated { at, successor } => {
                return Ok(Executed::AlreadyRotated { at, successor });
            }
            Rotation::Unknown => return Ok(Executed::RefreshTokenGone),
        }
    }
    Ok(Executed::Issued(Box::new(issued)))
}

/// The access token of an issuance and its claims.
async fn access_token(
    state: &AppState,
    app: &Application,
    i: &Issuance,
    now: UnixTime,
) -> Result<(String, AccessTokenClaims), ApiError> {
    if let Subject::User { .. } = i.subject {
        // A user's token never carries valet:admin (issue 12, item 11), even from a code
        // or registration made before that rule.
        app.check_admin_scope(&i.selection.scope, true)?;
    }
    let mut claims = AccessTokenClaims::new(Issue {
        issuer: &state.settings.issuer,
        subject: i.sub(),
        client_id: &i.client_id,
        selection: &i.selection,
        now,
        ttl: Application::lifetime(app.access_token_ttl, state.settings.access_token_ttl),
        jti: random_token(16)?,
    });
    claims.auth_time = i.authentication().map(|a| a.time);
    claims.grant_id = i.grant_id().map(str::to_owned);
    claims.cnf = i
        .cnf
        .as_ref()
        .map(|Confirmation::Jkt(jkt)| Cnf { jkt: jkt.clone() });
    // RFC 8693 §4.1: an exchanged token names its actors, and never outlives what it was
    // exchanged for.
    claims.act = i.act.clone();
    if let Some(t) = i.not_after {
        claims.exp = claims.exp.min(t);
    }
    let token = mint_access_token(state, app, &claims, now).await?;
    tracing::debug!(client_id = %claims.client_id, jti = %claims.jti, "issued access token");
    Ok((token, claims))
}

/// The access token that carries `claims`, in the format `opaque_token::format_for`
/// picks: a signed JWT (nothing written), or an opaque token whose hash is stored with
/// the claims (one insert; the token is only returned once it is committed). `now` is the
/// request's, the one `claims` were made at; it picks the signing key.
async fn mint_access_token(
    state: &AppState,
    app: &Application,
    claims: &AccessTokenClaims,
    now: UnixTime,
) -> Result<String, ApiError> {
    let apis = state.catalog.apis().await?;
    match opaque_token::format_for(app, &claims.aud, &apis) {
        AccessTokenFormat::Jwt => sign(state, Algorithm::ES256, TYP, claims, now),
        AccessTokenFormat::Opaque => {
            let random = random_token(opaque_token::RANDOM_BYTES)?;
            let token = opaque_token::token(&random);
            let record = OpaqueAccessTokenRecord {
                hash: sha256(token.as_bytes()),
                client_id: claims.client_id.clone(),
                subject: claims.sub.clone(),
                grant_id: claims.grant_id.clone(),
                claims: serde_json::to_string(claims)
                    .map_err(Fault::encode("access token claims"))?,
                issued_at: claims.iat,
                expires_at: claims.exp,
            };
            state.store.insert_opaque_access_token(&record).await?;
            Ok(token)
        }
    }
}

/// The ID token of a user's issuance; `access_token` gives `at_hash` (OIDC Core
/// §3.1.3.6, §3.2.2.10).
fn id_token(
    state: &AppState,
    app: &Application,
    sid: Option<String>,
    i: &Issuance,
    plan: &IdTokenPlan,
    access_token: Option<&str>,
    now: UnixTime,
) -> Result<String, ApiError> {
    let Some(auth) = i.authentication() else {
        return Err(ApiError::invariant("an ID token without a user"));
    };
    let subject = crate::pairwise::subject(state, app, i.sub());
    let c = IdTokenClaims::new(IdToken {
        issuer: &state.settings.issuer,
        subject: &subject,
        client_id: &i.client_id,
        now,
        ttl: Application::lifetime(app.access_token_ttl, state.settings.access_token_ttl),
        auth_time: auth.time,
        acr: &auth.acr,
        amr: &auth.amr,
        nonce: plan.nonce.as_deref(),
        at_hash: access_token.map(half_hash),
        sid,
        c_hash: None,
        claims: plan.claims.clone(),
    });
    sign(state, id_token_alg(app), "JWT", &c, now)
}

/// OIDC Registration §2 `id_token_signed_response_alg`: the algorithm of `app`'s ID
/// tokens (and logout tokens).
pub fn id_token_alg(app: &Application) -> Algorithm {
    match app.assurance.id_token_alg {
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::PS256 => Algorithm::PS256,
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::EdDSA => Algorithm::EdDSA,
    }
}

/// A new refresh token of a user's grant at `place` (a new chain's first when `None`):
/// the token (for the client) and its record (`protocol::refresh_chain`).
fn refresh_token(
    state: &AppState,
    app: &Application,
    i: &Issuance,
    details: &RefreshDetails,
    place: Option<Place>,
    now: UnixTime,
) -> Result<(String, RefreshTokenRecord), ApiError> {
    let (Some(grant_id), Subject::User { user_id, .. }) = (i.grant_id(), &i.subject) else {
        return Err(ApiError::invariant("a refresh token without a grant"));
    };
    let place = match place {
        Some(p) => p,
        None => Place::first(&random_array()?),
    };
    let token = place
        .token(&random_array()?)
        .ok_or_else(|| ApiError::invariant("a refresh token's chain of the wrong length"))?;
    let record = RefreshTokenRecord {
        hash: sha256(token.as_bytes()),
        grant_id: grant_id.to_owned(),
        client_id: i.client_id.clone(),
        user_id: user_id.clone(),
        details: serde_json::to_string(details).map_err(Fault::encode("refresh token details"))?,
        issued_at: now,
        expires_at: now
            + Application::lifetime(app.refresh_token_ttl, state.settings.refresh_token_ttl),
        rotated_at: None,
        chain: Some(place.chain),
        generation: i64::from(place.generation),
    };
    Ok((token, record))
}

fn random_array<const N: usize>() -> Result<[u8; N], Fault> {
    random_bytes(N)?.try_into().map_err(|_| Fault::Random)
}

/// The user of a grant, if they still exist and may sign in (asked of their store, a
/// directory included); a grant of a deleted or disabled user yields nothing more
/// (`invalid_grant`).
pub async fn grant_user(state: &AppState, user_id: &str) -> Result<User, ApiError> {
    match state.users.by_sub(user_id).await? {
        Some(u) => Ok(u),
        None => Err(OAuthError::invalid_grant("the user no longer exists or is disabled").into()),
    }
}

/// The response a rotation stored for the retry window, sealed under the rotated
/// token's hash: only a request presenting that very token can open it.
fn binding(hash: &[u8]) -> String {
    format!("refresh:{}", b64(hash))
}

fn seal_response(state: &AppState, hash: &[u8], r: &TokenResponse) -> Result<Vec<u8>, ApiError> {
    let json = serde_json::to_vec(r).map_err(Fault::encode("token response"))?;
    Ok(state.interactions.seal(&binding(hash), &json)?)
}

/// The response a rotation of the token of `hash` stored, if it opens.
pub fn open_response(state: &AppState, hash: &[u8], sealed: &[u8]) -> Option<TokenResponse> {
    let json = state.interactions.open(&binding(hash), sealed).ok()?;
    serde_json::from_slice(&json).ok()
}

/// Signs `claims` with the key that signs for `alg` at `now` (the caller's: signing does
/// not read the clock again).
pub(crate) fn sign<T: Serialize>(
    state: &AppState,
    alg: Algorithm,
    typ: &str,
    claims: &T,
    now: UnixTime,
) -> Result<String, ApiError> {
    let keys = state.keys.snapshot();
    let signer = keys.signer(alg, now).ok_or(Fault::NoSigningKey(alg))?;
    signer.sign(typ, claims).map_err(|e| Fault::Sign(e).into())
}

/// The grant's tokens outlive it by no more than this: the refresh token's lifetime plus
/// one access token's.
pub fn grant_until(state: &AppState, now: UnixTime) -> UnixTime {
    now + state.settings.refresh_token_ttl + state.settings.access_token_ttl
}
