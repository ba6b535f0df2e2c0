//! APIs (resource servers, RFC 8707 audiences) and their scopes.
//!
//! Removing a scope: refused while an application may request it, naming them, unless
//! `force`, which also takes it from each of those applications (each an audited
//! `client.update`). Tokens already issued with the scope keep it until they expire; to
//! end them at once, revoke the applications' grants. A scope's description can change
//! freely (consent pages show the new one); its name cannot: remove it and add the new one.

use serde::{Deserialize, Serialize};
use valet_protocol::application::GrantType;
use valet_protocol::audience::{Api, ApiScope, ExchangeRule};
use valet_protocol::opaque_token::AccessTokenFormat;
use valet_store::{ApiRecord, StoreError};

use super::{Admin, AdminError, Changes, Target, etag};

/// `valet api create` / `POST /admin/api/apis`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewApi {
    pub name: Option<String>,
    pub audience: String,
    pub scopes: Vec<ApiScope>,
    #[serde(default)]
    pub access_token_format: AccessTokenFormat,
    /// The confidential applications (the API's own backends) that may introspect tokens
    /// whose audience includes it (RFC 7662 §4); registered already.
    #[serde(default)]
    pub introspectors: Vec<String>,
    /// The confidential applications that may exchange tokens into it (RFC 8693), and
    /// for which of its scopes; none by default.
    #[serde(default)]
    pub token_exchange: Vec<ExchangeRule>,
}

/// `valet api update` / `PATCH /admin/api/apis/{audience}`: absent fields stay.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct ApiChanges {
    pub name: Option<String>,
    pub access_token_format: Option<AccessTokenFormat>,
    pub introspectors: Option<Vec<String>>,
    /// Replaces the whole token exchange policy (`[]`: no application may exchange).
    pub token_exchange: Option<Vec<ExchangeRule>>,
    /// Replaces every scope's description by name (names themselves do not change).
    pub scope_descriptions: Option<std::collections::BTreeMap<String, String>>,
}

/// An API as every face shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiView {
    pub name: String,
    pub audience: String,
    pub scopes: Vec<ApiScope>,
    pub access_token_format: AccessTokenFormat,
    pub introspectors: Vec<String>,
    pub token_exchange: Vec<ExchangeRule>,
    pub created_at: i64,
}

impl From<ApiRecord> for ApiView {
    fn from(r: ApiRecord) -> Self {
        Self {
            name: r.name,
            audience: r.api.audience,
            scopes: r.api.scopes,
            access_token_format: r.api.access_token_format,
            introspectors: r.api.introspectors,
            token_exchange: r.api.token_exchange,
            created_at: r.created_at,
        }
    }
}

impl Admin {
    /// Registers an API; `access_token_format` `Opaque` makes every token whose audience
    /// includes it opaque.
    pub async fn create_api(&self, new: NewApi, now: i64) -> Result<ApiRecord, AdminError> {
        let record = ApiRecord {
            name: new.name.unwrap_or_else(|| new.audience.clone()),
            api: Api {
                audience: new.audience,
                scopes: new.scopes,
                access_token_format: new.access_token_format,
                introspectors: self.introspectors(new.introspectors).await?,
                token_exchange: self.exchange_rules(new.token_exchange).await?,
            },
            created_at: now,
        };
        record
            .api
            .validate(&record.name)
            .map_err(AdminError::Invalid)?;
        self.store.create_api(&record).await.map_err(|e| match e {
            StoreError::Conflict(_) => AdminError::Conflict(
                "an API with this audience, or one of these scope names, already exists".into(),
            ),
            other => AdminError::Store(other),
        })?;
        self.forget_apis();
        let view = ApiView::from(record.clone());
        self.record(
            "api.create",
            Target::Api(&view.audience),
            Changes::created(&view),
            now,
        )
        .await?;
        Ok(record)
    }

    pub async fn apis(&self) -> Result<Vec<ApiRecord>, AdminError> {
        Ok(self.store.apis().await?)
    }

    pub async fn api(&self, audience: &str) -> Result<ApiRecord, AdminError> {
        self.store
            .apis()
            .await?
            .into_iter()
            .find(|a| a.api.audience == audience)
            .ok_or_else(|| AdminError::NotFound(format!("no API with audience {audience}")))
    }

    pub async fn update_api(
        &self,
        audience: &str,
        ch: ApiChanges,
        if_match: Option<&str>,
        now: i64,
    ) -> Result<ApiRecord, AdminError> {
        let mut record = self.api(audience).await?;
        let before = ApiView::from(record.clone());
        if if_match.is_some_and(|tag| tag != etag(&before)) {
            return Err(AdminError::Stale("API"));
        }
        if let Some(n) = ch.name {
            record.name = n;
        }
        if let Some(f) = ch.access_token_format {
            record.api.access_token_format = f;
        }
        if let Some(i) = ch.introspectors {
            record.api.introspectors = self.introspectors(i).await?;
        }
        if let Some(rules) = ch.token_exchange {
            record.api.token_exchange = self.exchange_rules(rules).await?;
        }
        for (name, description) in ch.scope_descriptions.unwrap_or_default() {
            let Some(s) = record.api.scopes.iter_mut().find(|s| s.name == name) else {
                return Err(AdminError::field(
                    "scope_descriptions",
                    format!("{audience} has no scope {name}"),
                ));
            };
            s.description = description;
        }
        self.replace_api(before, record, "api.update", now).await
    }

    /// Adds a scope (`name`, `description`) to an API.
    pub async fn add_api_scope(
        &self,
        audience: &str,
        scope: ApiScope,
        now: i64,
    ) -> Result<ApiRecord, AdminError> {
        let mut record = self.api(audience).await?;
        let before = ApiView::from(record.clone());
        if let Some(owner) = self
            .store
            .apis()
            .await?
            .iter()
            .find(|a| a.api.defines(&scope.name))
        {
            return Err(AdminError::Conflict(format!(
                "the scope {} is already defined by {}",
                scope.name, owner.api.audience
            )));
        }
        record.api.scopes.push(scope);
        self.replace_api(before, record, "api.scope.add", now).await
    }

    /// Removes a scope from an API; see the module's rules.
    pub async fn remove_api_scope(
        &self,
        audience: &str,
        name: &str,
        force: bool,
        now: i64,
    ) -> Result<ApiRecord, AdminError> {
        let mut record = self.api(audience).await?;
        let before = ApiView::from(record.clone());
        if !record.api.defines(name) {
            return Err(AdminError::NotFound(format!(
                "{audience} has no scope {name}"
            )));
        }
        if record.api.scopes.len() == 1 {
            return Err(AdminError::Invalid(format!(
                "{name} is the last scope of {audience}; an API needs one (delete the API instead)"
            )));
        }
        let holders: Vec<_> = self
            .list()
            .await?
            .into_iter()
            .filter(|a| a.scopes.iter().any(|s| s == name))
            .collect();
        if !holders.is_empty() && !force {
            let ids: Vec<_> = holders.iter().map(|a| a.client_id.as_str()).collect();
            return Err(AdminError::Conflict(format!(
                "applications may still request {name}: {}; remove it from them first, or \
                 force the removal to take it from them too",
                ids.join(", ")
            )));
        }
        record.api.scopes.retain(|s| s.name != name);
        let record = self
            .replace_api(before, record, "api.scope.remove", now)
            .await?;
        for app in holders {
            let scopes = app.scopes.iter().filter(|s| *s != name).cloned().collect();
            let ch = super::ClientChanges {
                scopes: Some(scopes),
                ..Default::default()
            };
            self.update_client(&app.client_id, ch, None, now).await?;
        }
        Ok(record)
    }

    pub async fn delete_api(&self, audience: &str, now: i64) -> Result<(), AdminError> {
        let before = ApiView::from(self.api(audience).await?);
        if !self.store.delete_api(audience).await? {
            return Err(AdminError::NotFound(format!(
                "no API with audience {audience}"
            )));
        }
        self.forget_apis();
        self.record(
            "api.delete",
            Target::Api(audience),
            Changes::removed(&before),
            now,
        )
        .await
    }

    async fn replace_api(
        &self,
        before: ApiView,
        record: ApiRecord,
        action: &str,
        now: i64,
    ) -> Result<ApiRecord, AdminError> {
        record
            .api
            .validate(&record.name)
            .map_err(AdminError::Invalid)?;
        let after = ApiView::from(record.clone());
        let changes = Changes::diff(&before, &after);
        if changes.is_empty() {
            return Ok(record);
        }
        if !self.store.update_api(&record).await? {
            return Err(AdminError::NotFound(format!(
                "no API with audience {}",
                after.audience
            )));
        }
        self.forget_apis();
        self.record(action, Target::Api(&after.audience), changes, now)
            .await?;
        Ok(record)
    }

    /// The introspectors named, checked: registered, confidential, each once.
    async fn introspectors(&self, ids: Vec<String>) -> Result<Vec<String>, AdminError> {
        let mut named: Vec<String> = Vec::new();
        for id in ids {
            let Some(client) = self.store.client(&id).await? else {
                return Err(AdminError::field(
                    "introspectors",
                    format!(
                        "--introspector {id}: no application with this client_id; register the \
                         API's own application first (valet client create --profile service)"
                    ),
                ));
            };
            // A public application authenticates with its client_id alone: anyone could
            // introspect as it.
            if !client.app.is_confidential() {
                return Err(AdminError::field(
                    "introspectors",
                    format!(
                        "--introspector {id}: a public application cannot introspect; name a \
                         confidential one (it authenticates with its secret)"
                    ),
                ));
            }
            if !named.contains(&id) {
                named.push(id);
            }
        }
        Ok(named)
    }

    /// The token exchange rules, checked: each names a registered confidential
    /// application allowed the token exchange grant, once (`Api::validate` checks the
    /// scopes are the API's).
    async fn exchange_rules(
        &self,
        rules: Vec<ExchangeRule>,
    ) -> Result<Vec<ExchangeRule>, AdminError> {
        let mut out: Vec<ExchangeRule> = Vec::new();
        for rule in rules {
            let id = &rule.client_id;
            let Some(client) = self.store.client(id).await? else {
                return Err(AdminError::field(
                    "token_exchange",
                    format!("--allow-exchange-from {id}: no application with this client_id"),
                ));
            };
            if !client.app.is_confidential() || !client.app.allows_grant(GrantType::TokenExchange) {
                return Err(AdminError::field(
                    "token_exchange",
                    format!(
                        "--allow-exchange-from {id}: the application must be confidential and \
                         allowed the grant {} (--grant on valet client create or update)",
                        valet_protocol::token_exchange::GRANT_TYPE
                    ),
                ));
            }
            if let Some(existing) = out.iter_mut().find(|r| r.client_id == rule.client_id) {
                *existing = rule;
            } else {
                out.push(rule);
            }
        }
        Ok(out)
    }
}
