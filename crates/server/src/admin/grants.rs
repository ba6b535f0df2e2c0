//! Grants (what a user allowed an application, with every token issued from it) and
//! sessions, listed by user or application, and revoked.

use serde::Serialize;
use valet_store::{GrantRecord, SessionRecord};

use super::{Admin, AdminError, Changes, Target};

/// A grant as every face shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GrantView {
    pub grant_id: String,
    pub client_id: String,
    pub sub: String,
    pub scope: String,
    /// Made in a browser session (logging out ends it unless it holds `offline_access`).
    pub in_session: bool,
    pub created_at: i64,
    pub expires_at: i64,
}

impl From<GrantRecord> for GrantView {
    fn from(g: GrantRecord) -> Self {
        Self {
            grant_id: g.grant_id,
            client_id: g.client_id,
            sub: g.user_id,
            scope: g.scope,
            in_session: g.session.is_some(),
            created_at: g.created_at,
            expires_at: g.expires_at,
        }
    }
}

/// A browser session as every face shows it: never its id (nor the hash of it).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub sub: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

impl From<SessionRecord> for SessionView {
    fn from(s: SessionRecord) -> Self {
        Self {
            sub: s.user_id,
            auth_time: s.auth_time,
            created_at: s.created_at,
            expires_at: s.expires_at,
        }
    }
}

impl Admin {
    /// Live grants, newest first; `username` and `client_id` filter. At most `limit`
    /// (capped at `MAX_PAGE`), after the grant `before` names.
    pub async fn grants(
        &self,
        username: Option<&str>,
        client_id: Option<&str>,
        before: Option<&str>,
        limit: u32,
        now: i64,
    ) -> Result<Vec<GrantView>, AdminError> {
        let sub = match username {
            Some(u) => Some(self.user(u).await?.id),
            None => None,
        };
        Ok(self
            .store
            .live_grants(
                sub.as_deref(),
                client_id,
                now,
                before,
                limit.clamp(1, super::MAX_PAGE),
            )
            .await?
            .into_iter()
            .map(GrantView::from)
            .collect())
    }

    pub async fn revoke_grant(&self, grant_id: &str, now: i64) -> Result<(), AdminError> {
        let Some(g) = self.store.grant(grant_id).await? else {
            return Err(AdminError::NotFound(format!("no grant {grant_id}")));
        };
        if g.expires_at <= now || self.store.is_grant_revoked(grant_id).await? {
            return Err(AdminError::Invalid(format!(
                "the grant {grant_id} has already ended"
            )));
        }
        self.store.revoke_grant(grant_id, g.expires_at).await?;
        let changes = Changes::default()
            .set("client_id", None::<String>, &g.client_id)
            .set("sub", None::<String>, &g.user_id)
            .set("revoked", false, true);
        self.record("grant.revoke", Target::Grant(grant_id), changes, now)
            .await
    }

    pub async fn sessions(&self, username: &str, now: i64) -> Result<Vec<SessionView>, AdminError> {
        let u = self.user(username).await?;
        Ok(self
            .store
            .sessions_of_user(&u.id, now)
            .await?
            .into_iter()
            .map(SessionView::from)
            .collect())
    }
}
