//! Administration of applications and APIs, shared by the `valet` CLI and the admin REST
//! API so both apply the same rules.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use valet_protocol::application::{Application, AuthMethod, GrantType, Profile};
use valet_protocol::audience::{Api, ApiScope};
use valet_protocol::opaque_token::AccessTokenFormat;
use valet_protocol::user::{UserClaims, validate_username};
use valet_store::{ApiRecord, ClientRecord, Store, StoreError, UserRecord};

use crate::passwords::Passwords;

use crate::catalog::ADMIN_SCOPE;
use crate::crypto::{Secret, SecretHasher, new_client_secret, random_token};

/// OpenID Connect scopes every user-facing application may request by default.
pub use valet_protocol::scope::OIDC_SCOPES;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Internal(#[from] crate::fault::Fault),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Self::Conflict(m),
            other => Self::Store(other),
        }
    }
}

/// A request to register an application.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    pub name: String,
    pub profile: Option<Profile>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Allowed scopes; `None` means the profile's defaults.
    pub scopes: Option<Vec<String>>,
    /// Grant types; `None` means the profile's defaults.
    pub grant_types: Option<Vec<GrantType>>,
    pub token_endpoint_auth_method: Option<AuthMethod>,
    #[serde(default)]
    pub trusted: bool,
    pub description: Option<String>,
    pub website: Option<String>,
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub service_subject: Option<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub allow_plain_pkce: bool,
    #[serde(default)]
    pub require_pkce: bool,
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// `jwt` (default) or `opaque` access tokens.
    #[serde(default)]
    pub access_token_format: AccessTokenFormat,
}

/// Changes to a registration; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub grant_types: Option<Vec<GrantType>>,
    pub trusted: Option<bool>,
    pub description: Option<String>,
    pub website: Option<String>,
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub service_subject: Option<String>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub allow_plain_pkce: Option<bool>,
    pub require_pkce: Option<bool>,
    pub cors_origins: Option<Vec<String>>,
    pub access_token_format: Option<AccessTokenFormat>,
}

/// A registered application with its secret, shown once at creation or rotation.
#[derive(Debug, Serialize)]
pub struct WithSecret {
    #[serde(flatten)]
    pub app: Application,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose")]
    pub client_secret: Option<Secret>,
}

fn expose<S: serde::Serializer>(s: &Option<Secret>, ser: S) -> Result<S::Ok, S::Error> {
    match s {
        Some(secret) => ser.serialize_str(secret.expose()),
        None => ser.serialize_none(),
    }
}

#[derive(Clone)]
pub struct Admin {
    pub store: Arc<dyn Store>,
    pub hasher: SecretHasher,
}

impl Admin {
    pub async fn create_client(&self, new: NewClient, now: i64) -> Result<WithSecret, AdminError> {
        let profile = new.profile.unwrap_or(Profile::Web);
        let scopes = match new.scopes {
            Some(s) => s,
            None if profile == Profile::Service => vec![],
            None => OIDC_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        };
        let app = Application {
            client_id: new_client_id()?,
            name: new.name.trim().to_owned(),
            description: new.description,
            website: new.website,
            logo_uri: new.logo_uri,
            policy_uri: new.policy_uri,
            profile,
            redirect_uris: new.redirect_uris,
            grant_types: new
                .grant_types
                .unwrap_or_else(|| profile.default_grant_types()),
            scopes,
            token_endpoint_auth_method: new
                .token_endpoint_auth_method
                .unwrap_or_else(|| profile.default_auth_method()),
            token_endpoint_auth_method_chosen: new.token_endpoint_auth_method.is_some(),
            trusted: new.trusted,
            service_subject: new.service_subject,
            post_logout_redirect_uris: new.post_logout_redirect_uris,
            allow_plain_pkce: new.allow_plain_pkce,
            require_pkce: new.require_pkce,
            cors_origins: new.cors_origins,
            access_token_format: new.access_token_format,
            registration: Default::default(),
        };
        self.check(&app).await?;
        let secret = if app.is_confidential() {
            Some(new_client_secret()?)
        } else {
            None
        };
        let record = ClientRecord {
            secret: secret.as_ref().map(|s| self.hasher.hash(s.expose())),
            previous_secret: None,
            created_at: now,
            updated_at: now,
            app: app.clone(),
        };
        self.store.create_client(&record).await?;
        tracing::info!(target: "valet::audit", client_id = %app.client_id, profile = %app.profile,
            access_token_format = %app.access_token_format, "application created");
        Ok(WithSecret {
            app,
            client_secret: secret,
        })
    }

    pub async fn update_client(
        &self,
        client_id: &str,
        ch: ClientChanges,
        now: i64,
    ) -> Result<Application, AdminError> {
        let mut record = self.get(client_id).await?;
        let app = &mut record.app;
        macro_rules! set {
            ($($f:ident),+) => { $(if let Some(v) = ch.$f { app.$f = v; })+ };
        }
        set!(
            name,
            redirect_uris,
            scopes,
            grant_types,
            trusted,
            post_logout_redirect_uris,
            allow_plain_pkce,
            require_pkce,
            cors_origins,
            access_token_format
        );
        macro_rules! set_opt {
            ($($f:ident),+) => { $(if let Some(v) = ch.$f { app.$f = (!v.is_empty()).then_some(v); })+ };
        }
        set_opt!(description, website, logo_uri, policy_uri, service_subject);
        self.check(app).await?;
        record.updated_at = now;
        if !self.store.update_client(&record).await? {
            return Err(not_found(client_id));
        }
        tracing::info!(target: "valet::audit", client_id, "application updated");
        Ok(record.app)
    }

    /// New secret; the old one keeps working for `grace` seconds when given.
    pub async fn rotate_secret(
        &self,
        client_id: &str,
        grace: Option<i64>,
        now: i64,
    ) -> Result<WithSecret, AdminError> {
        let record = self.get(client_id).await?;
        if !record.app.is_confidential() {
            return Err(AdminError::Invalid(format!(
                "{client_id} is a public application and has no secret"
            )));
        }
        let secret = new_client_secret()?;
        let until = grace.filter(|g| *g > 0).map(|g| now + g);
        if !self
            .store
            .rotate_client_secret(client_id, &self.hasher.hash(secret.expose()), until, now)
            .await?
        {
            return Err(not_found(client_id));
        }
        tracing::info!(target: "valet::audit",
            client_id,
            grace = grace.unwrap_or(0),
            "client secret rotated"
        );
        Ok(WithSecret {
            app: record.app,
            client_secret: Some(secret),
        })
    }

    pub async fn get(&self, client_id: &str) -> Result<ClientRecord, AdminError> {
        self.store
            .client(client_id)
            .await?
            .ok_or_else(|| not_found(client_id))
    }

    pub async fn list(&self) -> Result<Vec<Application>, AdminError> {
        Ok(self
            .store
            .clients()
            .await?
            .into_iter()
            .map(|c| c.app)
            .collect())
    }

    pub async fn delete_client(&self, client_id: &str) -> Result<(), AdminError> {
        if !self.store.delete_client(client_id).await? {
            return Err(not_found(client_id));
        }
        tracing::info!(target: "valet::audit", client_id, "application deleted");
        Ok(())
    }

    /// Revokes every grant of an application and forgets every consent given to it: its
    /// users' refresh tokens stop working and their access tokens read inactive.
    pub async fn revoke_grants(&self, client_id: &str, now: i64) -> Result<u64, AdminError> {
        self.get(client_id).await?;
        let n = self.store.revoke_client_grants(client_id, now).await?;
        tracing::info!(target: "valet::audit", client_id, grants = n, "all grants of the application revoked");
        Ok(n)
    }

    /// Registers an API; `access_token_format` `Opaque` makes every token whose audience
    /// includes it opaque. `introspectors` are the confidential applications (the API's
    /// own backends) that may introspect tokens whose audience includes it; they must be
    /// registered already.
    pub async fn create_api(
        &self,
        name: Option<String>,
        audience: String,
        scopes: Vec<ApiScope>,
        access_token_format: AccessTokenFormat,
        introspectors: Vec<String>,
        now: i64,
    ) -> Result<ApiRecord, AdminError> {
        let mut named: Vec<String> = Vec::new();
        for id in introspectors {
            let Some(client) = self.store.client(&id).await? else {
                return Err(AdminError::Invalid(format!(
                    "--introspector {id}: no application with this client_id; register the \
                     API's own application first (valet client create --profile service)"
                )));
            };
            // A public application authenticates with its client_id alone: anyone could
            // introspect as it.
            if !client.app.is_confidential() {
                return Err(AdminError::Invalid(format!(
                    "--introspector {id}: a public application cannot introspect; name a \
                     confidential one (it authenticates with its secret)"
                )));
            }
            if !named.contains(&id) {
                named.push(id);
            }
        }
        let record = ApiRecord {
            name: name.unwrap_or_else(|| audience.clone()),
            api: Api {
                audience,
                scopes,
                access_token_format,
                introspectors: named,
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
        tracing::info!(target: "valet::audit", audience = %record.api.audience,
            access_token_format = %record.api.access_token_format,
            introspectors = ?record.api.introspectors, "API created");
        Ok(record)
    }

    /// Registration rules plus: every scope must exist (built in, or defined by an API).
    async fn check(&self, app: &Application) -> Result<(), AdminError> {
        app.validate().map_err(AdminError::Invalid)?;
        let apis = self.store.apis().await?;
        for s in &app.scopes {
            let known = OIDC_SCOPES.contains(&s.as_str())
                || s == ADMIN_SCOPE
                || apis.iter().any(|a| a.api.defines(s));
            if !known {
                return Err(AdminError::Invalid(format!(
                    "unknown scope `{s}`: define it first with `valet api create --audience URI --scope {s}=DESCRIPTION`"
                )));
            }
        }
        Ok(())
    }
}

/// A request to add a user to the built-in user store.
#[derive(Default)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub claims: UserClaims,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewUser({}, [redacted])", self.username)
    }
}

impl Admin {
    pub async fn create_user(&self, new: NewUser, now: i64) -> Result<UserRecord, AdminError> {
        validate_username(&new.username).map_err(AdminError::Invalid)?;
        new.claims.validate().map_err(AdminError::Invalid)?;
        Passwords::check_policy(&new.password).map_err(AdminError::Invalid)?;
        let passwords = Passwords::new().map_err(AdminError::Invalid)?;
        let user = UserRecord {
            id: random_token(16)?,
            username: new.username,
            claims: new.claims,
            password_hash: Some(passwords.hash(&new.password).map_err(AdminError::Invalid)?),
            disabled: false,
            created_at: now,
            updated_at: now,
        };
        self.store.create_user(&user).await.map_err(|e| match e {
            StoreError::Conflict(_) => {
                AdminError::Conflict(format!("a user named {} already exists", user.username))
            }
            other => AdminError::Store(other),
        })?;
        tracing::info!(target: "valet::audit", sub = %user.id, username = %user.username, "user created");
        Ok(user)
    }

    pub async fn users(&self) -> Result<Vec<UserRecord>, AdminError> {
        Ok(self.store.users().await?)
    }

    pub async fn delete_user(&self, username: &str) -> Result<(), AdminError> {
        if !self.store.delete_user(username).await? {
            return Err(AdminError::NotFound(format!("no user named {username}")));
        }
        tracing::info!(target: "valet::audit", username, "user deleted");
        Ok(())
    }
}

fn not_found(client_id: &str) -> AdminError {
    AdminError::NotFound(format!("no application with client_id {client_id}"))
}

/// 128 random bits, base64url, never starting with `-` or `_`: a client_id is typed on
/// command lines (`valet client show ID`), where a leading `-` reads as a flag.
fn new_client_id() -> Result<String, AdminError> {
    loop {
        let id = random_token(16)?;
        if id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Ok(id);
        }
    }
}
