//! Upstream identity providers (issue 18) kept in the database: added, changed and removed
//! through the administration (the CLI, the admin API), beside the file's `[[upstreams]]`
//! tables, which only the file changes (listed here, marked `file`). A stored provider is
//! checked by the file's rules (`upstream::config`); its id may be neither a file
//! provider's nor a user store's. The client secret is sealed under the master key: never
//! shown, never in the audit trail. A node takes a change at once when it was made there,
//! and within `cache_ttl` (at least 5 s) otherwise.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use valet_store::{StoreError, UpstreamProviderRecord};

use super::{Admin, AdminError, Changes, Target};
use crate::upstream::config::{
    self, AuthMethod, ClaimsConfig, Scopes, Source, UpstreamConfig, UpstreamSettings,
};

/// `valet upstream create` / `POST /admin/api/upstreams`.
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUpstream {
    pub id: String,
    pub name: String,
    /// An OpenID Connect provider's issuer (discovery gives the rest)…
    pub issuer: Option<String>,
    /// …or a plain OAuth 2.0 provider's three endpoints.
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub client_id: String,
    /// Sealed in the database; never shown again.
    #[schema(format = Password)]
    pub client_secret: String,
    /// `client_secret_basic` (default) or `client_secret_post`.
    pub auth_method: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// Valet's claim → the provider's (`sub`, `email`, `email_verified`, `name`,
    /// `preferred_username`, `given_name`, `family_name`, `groups`).
    pub claims: Option<BTreeMap<String, String>>,
    pub domains: Option<Vec<String>>,
    /// `create` (default) or `existing`.
    pub users: Option<String>,
    pub link_by_verified_email: Option<bool>,
    pub keep_refresh_token: Option<bool>,
    /// Believe the provider's `amr`: its `mfa` counts as two factors.
    pub trust_mfa: Option<bool>,
    pub timeout: Option<u64>,
}

/// Never prints the secret.
impl std::fmt::Debug for NewUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUpstream")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for UpstreamChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamChanges").finish_non_exhaustive()
    }
}

/// `valet upstream update` / `PATCH /admin/api/upstreams/{id}`: absent fields stay.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamChanges {
    pub name: Option<String>,
    pub issuer: Option<String>,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub client_id: Option<String>,
    #[schema(format = Password)]
    pub client_secret: Option<String>,
    pub auth_method: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub claims: Option<BTreeMap<String, String>>,
    pub domains: Option<Vec<String>>,
    pub users: Option<String>,
    pub link_by_verified_email: Option<bool>,
    pub keep_refresh_token: Option<bool>,
    pub trust_mfa: Option<bool>,
    pub timeout: Option<u64>,
}

/// A provider as every face shows it (never its secret).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct UpstreamView {
    pub id: String,
    pub name: String,
    /// `file` (the configuration's `[[upstreams]]`, read-only here) or `database`.
    pub source: &'static str,
    pub issuer: Option<String>,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub client_id: String,
    pub auth_method: &'static str,
    pub scopes: Vec<String>,
    pub claims: BTreeMap<String, String>,
    pub domains: Vec<String>,
    pub users: &'static str,
    pub link_by_verified_email: bool,
    pub keep_refresh_token: bool,
    pub trust_mfa: bool,
    pub timeout: u64,
}

impl UpstreamView {
    pub fn of(s: &UpstreamSettings, source: &'static str) -> Self {
        let (issuer, a, t, u) = match &s.source {
            Source::Oidc { issuer } => (Some(issuer.clone()), None, None, None),
            Source::OAuth {
                authorization_endpoint,
                token_endpoint,
                userinfo_endpoint,
            } => (
                None,
                Some(authorization_endpoint.clone()),
                Some(token_endpoint.clone()),
                Some(userinfo_endpoint.clone()),
            ),
        };
        let m = &s.mapping;
        let mut claims = BTreeMap::from([
            ("sub".to_owned(), m.sub.clone()),
            ("email".to_owned(), m.email.clone()),
            ("email_verified".to_owned(), m.email_verified.clone()),
            ("name".to_owned(), m.name.clone()),
            (
                "preferred_username".to_owned(),
                m.preferred_username.clone(),
            ),
            ("given_name".to_owned(), m.given_name.clone()),
            ("family_name".to_owned(), m.family_name.clone()),
        ]);
        if let Some(g) = &m.groups {
            claims.insert("groups".into(), g.clone());
        }
        Self {
            id: s.id.clone(),
            name: s.name.clone(),
            source,
            issuer,
            authorization_endpoint: a,
            token_endpoint: t,
            userinfo_endpoint: u,
            client_id: s.client_id.clone(),
            auth_method: match s.auth_method {
                AuthMethod::Basic => "client_secret_basic",
                AuthMethod::Post => "client_secret_post",
            },
            scopes: s.scopes.clone(),
            claims,
            domains: s.domains.clone(),
            users: if s.policy.create_users {
                "create"
            } else {
                "existing"
            },
            link_by_verified_email: s.policy.link_by_verified_email,
            keep_refresh_token: s.keep_refresh_token,
            trust_mfa: s.trust_mfa,
            timeout: s.timeout.as_secs(),
        }
    }
}

fn claims_config(c: Option<BTreeMap<String, String>>) -> Result<Option<ClaimsConfig>, AdminError> {
    let Some(mut c) = c else { return Ok(None) };
    let mut take = |k: &str| c.remove(k);
    let out = ClaimsConfig {
        sub: take("sub"),
        email: take("email"),
        email_verified: take("email_verified"),
        name: take("name"),
        preferred_username: take("preferred_username"),
        given_name: take("given_name"),
        family_name: take("family_name"),
        groups: take("groups"),
    };
    if let Some(k) = c.keys().next() {
        return Err(AdminError::field(
            "claims",
            format!("`{k}` is not a claim Valet maps"),
        ));
    }
    Ok(Some(out))
}

/// The AEAD associated data of a stored provider's secret: it opens for that id only.
fn secret_aad(id: &str) -> String {
    format!("upstream client secret|{id}")
}

/// A stored provider's settings, its secret opened with `open`.
pub fn stored_settings(
    r: &UpstreamProviderRecord,
    open: impl Fn(&str, &[u8]) -> Option<String>,
) -> Result<UpstreamSettings, String> {
    let mut table: UpstreamConfig = serde_json::from_str(&r.config)
        .map_err(|e| format!("stored upstream `{}` does not read: {e}", r.id))?;
    table.client_secret = Some(
        open(&secret_aad(&r.id), &r.secret)
            .ok_or_else(|| format!("stored upstream `{}`: its secret does not open", r.id))?,
    );
    table.client_secret_file = None;
    table.client_secret_env = None;
    config::one(table)
}

impl Admin {
    fn open_upstream_secret(&self, aad: &str, sealed: &[u8]) -> Option<String> {
        let opened = match (&self.node, &self.sealer) {
            (Some(n), _) => n.sealer.open(aad, sealed).ok()?,
            (None, Some(s)) => s.open(aad, sealed).ok()?,
            (None, None) => return None,
        };
        String::from_utf8(opened).ok()
    }

    fn seal_upstream_secret(&self, id: &str, secret: &str) -> Result<Vec<u8>, AdminError> {
        let aad = secret_aad(id);
        Ok(match (&self.node, &self.sealer) {
            (Some(n), _) => n.sealer.seal(&aad, secret.as_bytes())?,
            (None, Some(s)) => s.seal(&aad, secret.as_bytes())?,
            (None, None) => {
                return Err(AdminError::Invalid(
                    "this administration has no master key to seal a client secret with".into(),
                ));
            }
        })
    }

    /// The file's providers, and the names an upstream id may not take.
    fn upstream_context(&self) -> (Vec<UpstreamSettings>, Vec<String>) {
        match (&self.node, &self.settings) {
            (Some(n), _) => (
                n.settings.upstreams.clone(),
                n.settings
                    .user_stores
                    .iter()
                    .map(|s| s.name.clone())
                    .collect(),
            ),
            (None, Some(s)) => (
                s.upstreams.clone(),
                s.user_stores.iter().map(|s| s.name.clone()).collect(),
            ),
            (None, None) => (Vec::new(), Vec::new()),
        }
    }

    /// Checks `table` (with `secret`) by the file's rules and against the ids taken.
    fn check_upstream(
        &self,
        mut table: UpstreamConfig,
        secret: &str,
    ) -> Result<UpstreamSettings, AdminError> {
        table.client_secret = Some(secret.to_owned());
        let settings = config::one(table).map_err(AdminError::Invalid)?;
        let (file, reserved) = self.upstream_context();
        if file.iter().any(|f| f.id == settings.id) {
            return Err(AdminError::Conflict(format!(
                "the configuration file defines an upstream `{}`",
                settings.id
            )));
        }
        if reserved.contains(&settings.id) {
            return Err(AdminError::Conflict(format!(
                "a user store is named `{}`, and a sub names one or the other",
                settings.id
            )));
        }
        for d in &settings.domains {
            if let Some(f) = file.iter().find(|f| f.domains.contains(d)) {
                return Err(AdminError::field(
                    "domains",
                    format!("`{d}` is offered by `{}` already", f.id),
                ));
            }
        }
        Ok(settings)
    }

    /// Every provider: the file's, then the database's.
    pub async fn upstreams(&self) -> Result<Vec<UpstreamView>, AdminError> {
        let (file, _) = self.upstream_context();
        let mut out: Vec<UpstreamView> = file.iter().map(|s| UpstreamView::of(s, "file")).collect();
        for r in self.store.upstream_providers().await? {
            match stored_settings(&r, |aad, s| self.open_upstream_secret(aad, s)) {
                Ok(s) => out.push(UpstreamView::of(&s, "database")),
                Err(e) => tracing::warn!(error = %e, "a stored upstream provider is skipped"),
            }
        }
        Ok(out)
    }

    pub async fn upstream(&self, id: &str) -> Result<UpstreamView, AdminError> {
        self.upstreams()
            .await?
            .into_iter()
            .find(|u| u.id == id)
            .ok_or_else(|| AdminError::NotFound(format!("no upstream provider {id}")))
    }

    pub async fn create_upstream(
        &self,
        new: NewUpstream,
        now: i64,
    ) -> Result<UpstreamView, AdminError> {
        let secret = new.client_secret.clone();
        let table = UpstreamConfig {
            id: new.id,
            name: new.name,
            issuer: new.issuer,
            authorization_endpoint: new.authorization_endpoint,
            token_endpoint: new.token_endpoint,
            userinfo_endpoint: new.userinfo_endpoint,
            client_id: new.client_id,
            auth_method: new.auth_method,
            scopes: new.scopes.map(Scopes::List),
            claims: claims_config(new.claims)?,
            domains: new.domains,
            users: new.users,
            link_by_verified_email: new.link_by_verified_email,
            keep_refresh_token: new.keep_refresh_token,
            trust_mfa: new.trust_mfa,
            timeout: new.timeout,
            ..Default::default()
        };
        let settings = self.check_upstream(table.clone(), &secret)?;
        self.domains_free(&settings, None).await?;
        let record = UpstreamProviderRecord {
            id: settings.id.clone(),
            config: serde_json::to_string(&table)
                .map_err(crate::fault::Fault::encode("upstream"))?,
            secret: self.seal_upstream_secret(&settings.id, &secret)?,
            created_at: now,
            updated_at: now,
        };
        self.store
            .create_upstream_provider(&record)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    AdminError::Conflict(format!("an upstream provider `{}` exists", record.id))
                }
                other => AdminError::Store(other),
            })?;
        self.reload_upstreams().await;
        let view = UpstreamView::of(&settings, "database");
        self.record(
            "upstream.create",
            Target::Upstream(&view.id),
            Changes::created(&view).secret("client_secret"),
            now,
        )
        .await?;
        Ok(view)
    }

    pub async fn update_upstream(
        &self,
        id: &str,
        ch: UpstreamChanges,
        now: i64,
    ) -> Result<UpstreamView, AdminError> {
        let Some(record) = self.store.upstream_provider(id).await? else {
            return Err(self.not_stored(id));
        };
        let before = stored_settings(&record, |aad, s| self.open_upstream_secret(aad, s))
            .map_err(AdminError::Invalid)?;
        let mut table: UpstreamConfig = serde_json::from_str(&record.config)
            .map_err(|e| AdminError::Invalid(format!("the stored provider does not read: {e}")))?;
        macro_rules! take {
            ($($f:ident),*) => { $( if let Some(v) = ch.$f.clone() { table.$f = Some(v); } )* };
        }
        take!(
            issuer,
            authorization_endpoint,
            token_endpoint,
            userinfo_endpoint,
            auth_method,
            domains,
            users,
            link_by_verified_email,
            keep_refresh_token,
            trust_mfa,
            timeout
        );
        if let Some(n) = ch.name.clone() {
            table.name = n;
        }
        if let Some(c) = ch.client_id.clone() {
            table.client_id = c;
        }
        if let Some(s) = ch.scopes.clone() {
            table.scopes = Some(Scopes::List(s));
        }
        if ch.claims.is_some() {
            table.claims = claims_config(ch.claims.clone())?;
        }
        // An issuer replaces the endpoints, and the endpoints the issuer.
        if ch.issuer.is_some() {
            table.authorization_endpoint = None;
            table.token_endpoint = None;
            table.userinfo_endpoint = None;
        } else if ch.authorization_endpoint.is_some() {
            table.issuer = None;
        }
        let secret = match &ch.client_secret {
            Some(s) => s.clone(),
            None => match &before.secret {
                config::SecretSource::Inline(s) => s.clone(),
                _ => {
                    return Err(AdminError::Invalid(
                        "the stored secret does not open".into(),
                    ));
                }
            },
        };
        let settings = self.check_upstream(table.clone(), &secret)?;
        self.domains_free(&settings, Some(id)).await?;
        let updated = UpstreamProviderRecord {
            config: serde_json::to_string(&table)
                .map_err(crate::fault::Fault::encode("upstream"))?,
            secret: self.seal_upstream_secret(id, &secret)?,
            updated_at: now,
            ..record
        };
        if !self.store.update_upstream_provider(&updated).await? {
            return Err(self.not_stored(id));
        }
        self.reload_upstreams().await;
        let (old, new) = (
            UpstreamView::of(&before, "database"),
            UpstreamView::of(&settings, "database"),
        );
        let mut changes = Changes::diff(&old, &new);
        if ch.client_secret.is_some() {
            changes = changes.secret("client_secret");
        }
        self.record("upstream.update", Target::Upstream(id), changes, now)
            .await?;
        Ok(new)
    }

    /// Removes a stored provider. Its users stay (they sign in another way, or through a
    /// provider added again under the same id); their links stay with them.
    pub async fn delete_upstream(&self, id: &str, now: i64) -> Result<(), AdminError> {
        let view = self.upstream(id).await.ok();
        if !self.store.delete_upstream_provider(id).await? {
            return Err(self.not_stored(id));
        }
        self.reload_upstreams().await;
        self.record(
            "upstream.delete",
            Target::Upstream(id),
            view.map(|v| Changes::removed(&v)).unwrap_or_default(),
            now,
        )
        .await
    }

    fn not_stored(&self, id: &str) -> AdminError {
        let (file, _) = self.upstream_context();
        if file.iter().any(|f| f.id == id) {
            AdminError::Invalid(format!(
                "`{id}` is defined in the configuration file; change it there"
            ))
        } else {
            AdminError::NotFound(format!("no upstream provider {id}"))
        }
    }

    /// A domain belongs to one provider, across the database too.
    async fn domains_free(
        &self,
        s: &UpstreamSettings,
        except: Option<&str>,
    ) -> Result<(), AdminError> {
        for other in self.upstreams().await? {
            if Some(other.id.as_str()) == except || other.id == s.id {
                continue;
            }
            if let Some(d) = s.domains.iter().find(|d| other.domains.contains(d)) {
                return Err(AdminError::field(
                    "domains",
                    format!("`{d}` is offered by `{}` already", other.id),
                ));
            }
        }
        Ok(())
    }

    async fn reload_upstreams(&self) {
        if let Some(n) = &self.node {
            n.upstreams.reload(n.store.as_ref(), &n.sealer).await;
        }
    }
}
