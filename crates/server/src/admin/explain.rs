//! "Why?" (issue 21): what a token is and whether it is live — and if not, why not — and
//! what a refused request was refused for. The CLI (`valet explain`) and the admin API
//! (`POST /admin/api/explain`) share this; it reads the store, never a node's caches, so
//! it says what every node will say once their caches follow.
//!
//! The checks are those a token meets in use (`tokens.rs`, introspection), in the same
//! order, each answered in words: the key and signature (RFC 7515 §5.2), the claims
//! (RFC 9068 §4), the revocation list and the grant (RFC 7009 §2.1: revoking a refresh
//! token revokes its grant's tokens), the application, the user, a withdrawn scope.

use serde_json::{Value, json};
use valet_jose::{Jwk, VerifyingKey};
use valet_protocol::access_token::{AccessTokenClaims, OWN_EXP_LEEWAY, TYP};
use valet_protocol::keys::{self, KeyTimes};
use valet_protocol::opaque_token;
use valet_protocol::scope::Scope;
use valet_protocol::withdraw::{self, Narrowed};
use valet_store::{AuditQuery, AuditRecord};

use super::audit::audit_json;
use super::{Admin, AdminError};
use crate::crypto::sha256;

/// What `explain` found: `state` is `active`, `expired`, `revoked`, `rotated`,
/// `not_yet_valid`, `key_retired`, `invalid`, `foreign`, `client_deleted`,
/// `user_disabled` or `unknown`; `reason` says why in a sentence.
pub struct Explanation(pub Value);

fn verdict(state: &str, reason: impl Into<String>) -> (String, String) {
    (state.to_owned(), reason.into())
}

impl Admin {
    /// Explains `token` as of `now`, for an issuer of `issuer`.
    pub async fn explain_token(
        &self,
        token: &str,
        issuer: &str,
        now: i64,
    ) -> Result<Explanation, AdminError> {
        let token = token.trim();
        let mut out = json!({});
        let (state, reason) = if token.split('.').count() == 3 {
            self.explain_jwt(token, issuer, now, &mut out).await?
        } else if opaque_token::looks_opaque(token) {
            out["kind"] = "access_token".into();
            out["format"] = "opaque".into();
            match self
                .store
                .opaque_access_token(&sha256(token.as_bytes()), now)
                .await?
            {
                Some(record) => {
                    let claims: AccessTokenClaims = serde_json::from_str(&record.claims)
                        .map_err(|e| AdminError::Invalid(format!("stored claims: {e}")))?;
                    self.standing(&claims, false, now, &mut out).await?
                }
                None => verdict(
                    "unknown",
                    "no such opaque token is stored: it was never issued here, was revoked \
                     (revoking deletes it) or has expired",
                ),
            }
        } else {
            self.explain_refresh(token, now, &mut out).await?
        };
        out["state"] = state.into();
        out["reason"] = reason.into();
        Ok(Explanation(out))
    }

    async fn explain_jwt(
        &self,
        token: &str,
        issuer: &str,
        now: i64,
        out: &mut Value,
    ) -> Result<(String, String), AdminError> {
        out["format"] = "jwt".into();
        let Ok(header) = valet_jose::header(token) else {
            return Ok(verdict(
                "invalid",
                "the JOSE header is not valid JSON (RFC 7515 §4)",
            ));
        };
        out["key"] = json!({ "kid": header.kid, "alg": header.alg.as_str(), "typ": header.typ });
        let claims: Option<Value> = valet_jose::unverified_payload(token)
            .ok()
            .and_then(|p| serde_json::from_slice(&p).ok());
        let Some(claims) = claims else {
            return Ok(verdict("invalid", "the payload is not a JSON object"));
        };
        let kind = match header.typ.as_deref() {
            Some(t)
                if t.eq_ignore_ascii_case(TYP) || t.eq_ignore_ascii_case("application/at+jwt") =>
            {
                "access_token"
            }
            Some(t) if t.eq_ignore_ascii_case("logout+jwt") => "logout_token",
            _ if claims.get("nonce").is_some() || claims.get("azp").is_some() => "id_token",
            _ => "jwt",
        };
        out["kind"] = kind.into();
        let records = self.store.signing_keys().await?;
        let Some(kid) = header.kid.as_deref() else {
            return Ok(verdict("invalid", "the header names no key (kid)"));
        };
        let Some(record) = records.iter().find(|r| r.times.kid == kid) else {
            return Ok(verdict(
                "invalid",
                format!("signed with a key this server never had (kid {kid})"),
            ));
        };
        let times: Vec<KeyTimes> = records.iter().map(|r| r.times.clone()).collect();
        out["key"]["state"] = key_state(&record.times, &times, now).into();
        let verifier = serde_json::from_str::<Jwk>(&record.public_jwk)
            .ok()
            .and_then(|jwk| VerifyingKey::from_jwk(&jwk).ok());
        let Some(verifier) = verifier else {
            return Ok(verdict("invalid", format!("key {kid} cannot be read")));
        };
        if verifier.verify(token, &header).is_err() {
            out["signature"] = "invalid".into();
            return Ok(verdict(
                "invalid",
                format!(
                    "the signature does not verify with key {kid} ({}): the token was altered or \
                     not signed by this server",
                    record.times.alg
                ),
            ));
        }
        out["signature"] = "valid".into();
        // After the signature: a token of this server's key but another `iss` is most
        // likely this server under another name (the command run without --issuer).
        if claims["iss"].as_str() != Some(issuer) {
            out["iss"] = claims["iss"].clone();
            let iss = claims["iss"].as_str().unwrap_or("nobody named");
            return Ok(verdict(
                "foreign",
                format!(
                    "signed with this server's key {kid}, but issued by {iss}, not by this issuer ({issuer}); \
                     if {iss} is this server, explain it with --issuer {iss}"
                ),
            ));
        }
        for claim in [
            "sub",
            "aud",
            "scope",
            "client_id",
            "iat",
            "exp",
            "jti",
            "act",
            "cnf",
        ] {
            if let Some(v) = claims.get(claim) {
                out[claim] = v.clone();
            }
        }
        if !record.times.is_published(now) {
            let until = record.times.publish_until.unwrap_or(now);
            return Ok(verdict(
                "key_retired",
                format!(
                    "its key {kid} was retired at {} and is no longer published, so no one can check it",
                    time(until)
                ),
            ));
        }
        if kind != "access_token" {
            let exp = claims["exp"].as_i64().unwrap_or(0);
            return Ok(if exp <= now {
                verdict("expired", format!("expired at {}", time(exp)))
            } else {
                verdict(
                    "active",
                    format!("a valid {kind} until {} ({})", time(exp), left(exp - now)),
                )
            });
        }
        let Ok(claims) = serde_json::from_value::<AccessTokenClaims>(claims) else {
            return Ok(verdict(
                "invalid",
                "its claims are not those of an access token (RFC 9068 §2.2)",
            ));
        };
        if let Err(why) = claims.check(header.typ.as_deref(), issuer, now, OWN_EXP_LEEWAY) {
            return Ok(match why {
                "expired" => verdict("expired", format!("expired at {}", time(claims.exp))),
                "not yet valid" => verdict(
                    "not_yet_valid",
                    format!("not valid before {}", time(claims.nbf)),
                ),
                other => verdict("invalid", other),
            });
        }
        self.standing(&claims, true, now, out).await
    }

    /// A verified, unexpired access token's standing: revocation, grant, application,
    /// user, withdrawn scope.
    async fn standing(
        &self,
        claims: &AccessTokenClaims,
        jwt: bool,
        now: i64,
        out: &mut Value,
    ) -> Result<(String, String), AdminError> {
        out["sub"] = claims.sub.clone().into();
        out["client_id"] = claims.client_id.clone().into();
        out["scope"] = claims.scope.clone().into();
        out["aud"] = json!(claims.aud);
        out["expires_at"] = claims.exp.into();
        let jti = jwt.then_some(claims.jti.as_str());
        let (revoked, g) = self
            .store
            .access_token_standing(jti, claims.grant_id.as_deref())
            .await?;
        if let Some(grant) = &claims.grant_id {
            out["grant"] = json!({ "id": grant, "revoked": g.revoked });
        }
        if revoked {
            return Ok(verdict(
                "revoked",
                "it was revoked (RFC 7009): its jti is on the revocation list",
            ));
        }
        let app = self.store.client(&claims.client_id).await?;
        match &app {
            None => {
                return Ok(verdict(
                    "client_deleted",
                    format!("its application {} was deleted", claims.client_id),
                ));
            }
            Some(a) => out["application"] = a.app.name.clone().into(),
        }
        if let Some(grant) = &claims.grant_id {
            // The grant names the user (`sub` may be pairwise); a directory's user is not
            // in the database, and a deleted user's grants are revoked with them.
            let user_id = self.store.grant(grant).await?.map(|g| g.user_id);
            let user = match user_id {
                Some(id) => self.store.user(&id).await?,
                None => None,
            };
            if let Some(u) = user {
                out["user"] = u.username.clone().into();
                if u.disabled {
                    let why = self.last_event(&format!("user:{}", u.username)).await?;
                    return Ok(verdict(
                        "user_disabled",
                        format!(
                            "its user {} is disabled{}",
                            u.username,
                            by_whom(why.as_ref(), out)
                        ),
                    ));
                }
            }
            if g.revoked {
                let grant = claims.grant_id.as_deref().unwrap_or_default();
                let why = self.revocation_of(grant, out).await?;
                return Ok(verdict(
                    "revoked",
                    format!("its grant {grant} was revoked{why}"),
                ));
            }
            let narrowed = g
                .narrowed
                .as_ref()
                .map(|(scope, at)| (Scope::parse(scope).unwrap_or_default(), *at));
            let n = narrowed
                .as_ref()
                .map(|(scope, at)| Narrowed { scope, at: *at });
            if !withdraw::access_token_stands(claims.scope.as_deref(), claims.iat, n) {
                let at = narrowed.map(|(_, at)| at).unwrap_or(now);
                return Ok(verdict(
                    "revoked",
                    format!(
                        "the user withdrew a scope it carries at {} (consent withdrawn)",
                        time(at)
                    ),
                ));
            }
        }
        Ok(verdict(
            "active",
            format!(
                "active until {} ({})",
                time(claims.exp),
                left(claims.exp - now)
            ),
        ))
    }

    async fn explain_refresh(
        &self,
        token: &str,
        now: i64,
        out: &mut Value,
    ) -> Result<(String, String), AdminError> {
        let Some(r) = self
            .store
            .refresh_token(&sha256(token.as_bytes()), now)
            .await?
        else {
            return Ok(verdict(
                "unknown",
                "not a token this server knows: not a JWT, not one of its opaque access tokens, \
                 and no live refresh token has this value (it may have expired, or been rotated \
                 two or more times since)",
            ));
        };
        out["kind"] = "refresh_token".into();
        out["format"] = "opaque".into();
        out["client_id"] = r.client_id.clone().into();
        out["sub"] = r.user_id.clone().into();
        out["expires_at"] = r.expires_at.into();
        out["grant"] = json!({ "id": r.grant_id });
        let g = self.store.grant_scope(&r.grant_id).await?;
        out["grant"]["revoked"] = g.revoked.into();
        if g.revoked {
            let why = self.revocation_of(&r.grant_id, out).await?;
            return Ok(verdict(
                "revoked",
                format!("its grant {} was revoked{why}", r.grant_id),
            ));
        }
        if let Some(at) = r.rotated_at {
            return Ok(verdict(
                "rotated",
                format!(
                    "it was exchanged for a new refresh token at {}; presented again after the \
                     retry window it revokes the whole grant",
                    time(at)
                ),
            ));
        }
        if self.store.client(&r.client_id).await?.is_none() {
            return Ok(verdict(
                "client_deleted",
                format!("its application {} was deleted", r.client_id),
            ));
        }
        if let Some(u) = self.store.user(&r.user_id).await? {
            out["user"] = u.username.clone().into();
            if u.disabled {
                return Ok(verdict(
                    "user_disabled",
                    format!("its user {} is disabled", u.username),
                ));
            }
        }
        Ok(verdict(
            "active",
            format!(
                "usable until {} ({})",
                time(r.expires_at),
                left(r.expires_at - now)
            ),
        ))
    }

    /// Who revoked `grant` and when, as the trail tells: an event on the grant itself
    /// (an administrator, a reused refresh token), else the newest of its user's
    /// (disabled, signed out everywhere, a new password) or its application's.
    async fn revocation_of(&self, grant: &str, out: &mut Value) -> Result<String, AdminError> {
        let mut why = self.last_event(&format!("grant:{grant}")).await?;
        if why.is_none() {
            if let Some(g) = self.store.grant(grant).await? {
                let user = self.store.user(&g.user_id).await?.map(|u| u.username);
                if let Some(u) = user {
                    why = self.last_event(&format!("user:{u}")).await?;
                }
                if why.is_none() {
                    why = self.last_event(&format!("client:{}", g.client_id)).await?;
                }
            }
        }
        Ok(by_whom(why.as_ref(), out))
    }

    /// The newest audit event about `target`.
    async fn last_event(&self, target: &str) -> Result<Option<AuditRecord>, AdminError> {
        Ok(self
            .store
            .audit_events(&AuditQuery {
                target: Some(target.into()),
                limit: 1,
                ..Default::default()
            })
            .await?
            .into_iter()
            .next())
    }

    /// A refused request's trail, kept as `request.refused` (`request_id.rs`), and every
    /// other event the request recorded.
    pub async fn explain_request(&self, id: &str) -> Result<Explanation, AdminError> {
        let id = id.trim();
        let rows = self
            .store
            .audit_events(&AuditQuery {
                request_id: Some(id.to_owned()),
                limit: 20,
                ..Default::default()
            })
            .await?;
        let Some(row) = rows.iter().find(|r| r.action == "request.refused") else {
            return Err(AdminError::NotFound(format!(
                "no refused request {id} is kept: it was answered without an error, is older \
                 than the audit retention, or was one of many refused in the same second (those \
                 are in the log only)"
            )));
        };
        let details: Value = serde_json::from_str(&row.changes).unwrap_or(Value::Null);
        let mut out = json!({
            "request_id": id,
            "state": "refused",
            "reason": details["error_description"],
            "error": details["error"],
            "status": details["status"],
            "route": details["route"],
            "method": details["method"],
            "sent": details["sent"],
            "at": row.at,
            "address": row.address,
        });
        // Everything else the request recorded (a failed sign-in, say), oldest first.
        out["events"] = rows.iter().rev().map(audit_json).collect();
        Ok(Explanation(out))
    }
}

fn key_state(t: &KeyTimes, all: &[KeyTimes], now: i64) -> &'static str {
    if !t.is_published(now) {
        "retired"
    } else if keys::signing_key(all, &t.alg, now).is_some_and(|s| s.kid == t.kid) {
        "signing"
    } else {
        "published, verify only"
    }
}

/// " by user:alice at …" from an audit event, also set on `out`.
fn by_whom(e: Option<&AuditRecord>, out: &mut Value) -> String {
    match e {
        Some(e) => {
            out["revoked_by"] = json!({ "actor": e.actor, "action": e.action, "at": e.at });
            format!(" by {} ({}) at {}", e.actor, e.action, time(e.at))
        }
        None => String::new(),
    }
}

/// A Unix time for people (`YYYY-MM-DD HH:MM UTC`), as the account page writes it.
fn time(t: i64) -> String {
    crate::routes::account::time(t)
}

fn left(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s left"),
        s if s < 7200 => format!("{} min left", s / 60),
        s if s < 172_800 => format!("{} h left", s / 3600),
        s => format!("{} days left", s / 86_400),
    }
}
