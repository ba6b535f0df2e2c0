//! Applications (OAuth clients): every field, the secret, their grants.

use serde::{Deserialize, Serialize};
use valet_protocol::application::{
    Application, Assurance, AuthMethod, GrantType, Profile, SigningAlg, SubjectType,
};
use valet_protocol::opaque_token::AccessTokenFormat;
use valet_store::ClientRecord;

use super::{Admin, AdminError, Changes, OIDC_SCOPES, Target};

use crate::catalog::ADMIN_SCOPE;
use crate::crypto::{Secret, new_client_secret};

/// A request to register an application.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
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
    /// Require a second factor of whoever signs in (issue 16).
    #[serde(default)]
    pub require_mfa: bool,
    /// A new ID token with each refresh of an `openid` grant (OIDC Core §12.2); `None`:
    /// yes.
    pub id_token_on_refresh: Option<bool>,
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// `jwt` (default) or `opaque` access tokens.
    #[serde(default)]
    pub access_token_format: AccessTokenFormat,
    /// Seconds its access and ID tokens last, at most the server's `access_token_ttl`.
    pub access_token_ttl: Option<i64>,
    /// Seconds its refresh tokens last, at most the server's `refresh_token_ttl`.
    pub refresh_token_ttl: Option<i64>,
    /// OIDC Back-Channel Logout: where logout tokens are POSTed.
    pub backchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    /// RFC 7591 §2: the application's public keys (a JWK Set), for private_key_jwt and
    /// signed request objects; or `jwks_uri`, where it publishes them.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    /// RFC 9126 §6: authorization requests only through the PAR endpoint.
    #[serde(default)]
    pub require_par: bool,
    /// RFC 9449 §5.2: DPoP-bound tokens only.
    #[serde(default)]
    pub require_dpop: bool,
    /// RS256 (default; PS256 for fapi2), PS256, ES256 or EdDSA.
    pub id_token_alg: Option<SigningAlg>,
    #[serde(default)]
    pub subject_type: SubjectType,
}

/// Changes to a registration; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
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
    pub require_mfa: Option<bool>,
    pub id_token_on_refresh: Option<bool>,
    pub cors_origins: Option<Vec<String>>,
    pub access_token_format: Option<AccessTokenFormat>,
    pub token_endpoint_auth_method: Option<AuthMethod>,
    /// Seconds; 0 goes back to the server's lifetime.
    pub access_token_ttl: Option<i64>,
    /// Seconds; 0 goes back to the server's lifetime.
    pub refresh_token_ttl: Option<i64>,
    /// An empty string removes it.
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: Option<bool>,
    /// Replaces the registered keys (and drops a `jwks_uri`).
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// Replaces the keys' address (and drops registered `jwks`); an empty string removes it.
    pub jwks_uri: Option<String>,
    pub require_par: Option<bool>,
    pub require_dpop: Option<bool>,
    pub id_token_alg: Option<SigningAlg>,
    pub subject_type: Option<SubjectType>,
    /// Added to `redirect_uris` (after `redirect_uris`, when both are given).
    pub add_redirect_uris: Option<Vec<String>>,
    /// Removed from `redirect_uris`; each must be one of them.
    pub remove_redirect_uris: Option<Vec<String>>,
}

/// A registered application with its secret, shown once at creation or rotation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WithSecret {
    #[serde(flatten)]
    pub app: Application,
    /// Shown once: at creation and at rotation.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose")]
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<Secret>,
}

fn expose<S: serde::Serializer>(s: &Option<Secret>, ser: S) -> Result<S::Ok, S::Error> {
    match s {
        Some(secret) => ser.serialize_str(secret.expose()),
        None => ser.serialize_none(),
    }
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
            require_mfa: new.require_mfa,
            id_token_on_refresh: new.id_token_on_refresh.unwrap_or(true),
            cors_origins: new.cors_origins,
            access_token_format: new.access_token_format,
            access_token_ttl: new.access_token_ttl,
            refresh_token_ttl: new.refresh_token_ttl,
            backchannel_logout_uri: new.backchannel_logout_uri,
            backchannel_logout_session_required: new.backchannel_logout_session_required,
            registration: Default::default(),
            assurance: Assurance {
                jwks: new.jwks,
                jwks_uri: new.jwks_uri,
                require_par: new.require_par,
                require_dpop: new.require_dpop,
                id_token_alg: new.id_token_alg.unwrap_or(if profile == Profile::Fapi2 {
                    SigningAlg::PS256
                } else {
                    SigningAlg::RS256
                }),
                subject_type: new.subject_type,
            },
        };
        self.check(&app).await?;
        // An application authenticating with its keys has no secret (RFC 7523).
        let secret = if app.has_secret() {
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
        self.forget_client(&app.client_id);
        let mut changes = Changes::created(&app);
        if secret.is_some() {
            changes = changes.secret("client_secret");
        }
        self.record(
            "client.create",
            Target::Client(&app.client_id),
            changes,
            now,
        )
        .await?;
        Ok(WithSecret {
            app,
            client_secret: secret,
        })
    }

    /// Applies the fields given. `if_match`, when given, is the `etag` of the version the
    /// change was made against: another version stored meanwhile makes it `Stale`.
    pub async fn update_client(
        &self,
        client_id: &str,
        ch: ClientChanges,
        if_match: Option<&str>,
        now: i64,
    ) -> Result<Application, AdminError> {
        let mut record = self.get(client_id).await?;
        if if_match.is_some_and(|tag| tag != etag(&record.app)) {
            return Err(AdminError::Stale("application"));
        }
        let before = record.app.clone();
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
            require_mfa,
            id_token_on_refresh,
            cors_origins,
            access_token_format
        );
        if let Some(u) = ch.backchannel_logout_uri {
            app.backchannel_logout_uri = (!u.is_empty()).then_some(u);
        }
        if let Some(r) = ch.backchannel_logout_session_required {
            app.backchannel_logout_session_required = r;
        }
        if let Some(jwks) = ch.jwks {
            app.assurance.jwks = Some(jwks);
            app.assurance.jwks_uri = None;
        }
        if let Some(uri) = ch.jwks_uri {
            app.assurance.jwks_uri = (!uri.is_empty()).then_some(uri);
            if app.assurance.jwks_uri.is_some() {
                app.assurance.jwks = None;
            }
        }
        let a = &mut app.assurance;
        if let Some(v) = ch.require_par {
            a.require_par = v;
        }
        if let Some(v) = ch.require_dpop {
            a.require_dpop = v;
        }
        if let Some(v) = ch.id_token_alg {
            a.id_token_alg = v;
        }
        if let Some(v) = ch.subject_type {
            a.subject_type = v;
        }
        if let Some(t) = ch.access_token_ttl {
            app.access_token_ttl = (t != 0).then_some(t);
        }
        if let Some(t) = ch.refresh_token_ttl {
            app.refresh_token_ttl = (t != 0).then_some(t);
        }
        if let Some(m) = ch.token_endpoint_auth_method {
            app.token_endpoint_auth_method = m;
            app.token_endpoint_auth_method_chosen = true;
        }
        if let Some(add) = ch.add_redirect_uris {
            for u in add {
                if !app.redirect_uris.contains(&u) {
                    app.redirect_uris.push(u);
                }
            }
        }
        if let Some(remove) = ch.remove_redirect_uris {
            for u in &remove {
                if !app.redirect_uris.contains(u) {
                    return Err(AdminError::field(
                        "remove_redirect_uris",
                        format!("{u} is not one of the application's redirect URIs"),
                    ));
                }
            }
            app.redirect_uris.retain(|u| !remove.contains(u));
        }
        macro_rules! set_opt {
            ($($f:ident),+) => { $(if let Some(v) = ch.$f { app.$f = (!v.is_empty()).then_some(v); })+ };
        }
        set_opt!(description, website, logo_uri, policy_uri, service_subject);
        self.check(app).await?;
        let changes = Changes::diff(&before, &record.app);
        if changes.is_empty() {
            return Ok(record.app);
        }
        record.updated_at = now;
        if !self.store.update_client(&record).await? {
            return Err(not_found(client_id));
        }
        self.forget_client(client_id);
        self.record("client.update", Target::Client(client_id), changes, now)
            .await?;
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
        self.forget_client(client_id);
        let changes = Changes::default().secret("client_secret").set(
            "previous_secret_valid_until",
            None::<i64>,
            until,
        );
        self.record(
            "client.rotate_secret",
            Target::Client(client_id),
            changes,
            now,
        )
        .await?;
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

    pub async fn delete_client(&self, client_id: &str, now: i64) -> Result<(), AdminError> {
        let before = self.get(client_id).await?;
        if !self.store.delete_client(client_id).await? {
            return Err(not_found(client_id));
        }
        self.forget_client(client_id);
        self.record(
            "client.delete",
            Target::Client(client_id),
            Changes::removed(&before.app),
            now,
        )
        .await
    }

    /// Revokes every grant of an application and forgets every consent given to it: its
    /// users' refresh tokens stop working and their access tokens read inactive.
    pub async fn revoke_grants(&self, client_id: &str, now: i64) -> Result<u64, AdminError> {
        self.get(client_id).await?;
        let n = self.store.revoke_client_grants(client_id, now).await?;
        let changes = Changes::default().set("grants_revoked", 0, n);
        self.record(
            "client.revoke_grants",
            Target::Client(client_id),
            changes,
            now,
        )
        .await?;
        Ok(n)
    }

    /// Registration rules plus: every scope must exist (built in, or defined by an API).
    async fn check(&self, app: &Application) -> Result<(), AdminError> {
        app.validate_fields()
            .map_err(|(field, m)| AdminError::field(field, m))?;
        let apis = self.store.apis().await?;
        for s in &app.scopes {
            let known = OIDC_SCOPES.contains(&s.as_str())
                || s == ADMIN_SCOPE
                || apis.iter().any(|a| a.api.defines(s));
            if !known {
                return Err(AdminError::field(
                    "scopes",
                    format!(
                        "unknown scope `{s}`: define it first with `valet api create --audience URI --scope {s}=DESCRIPTION`"
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn not_found(client_id: &str) -> AdminError {
    AdminError::NotFound(format!("no application with client_id {client_id}"))
}

/// 128 random bits (`crypto::new_client_id`).
fn new_client_id() -> Result<String, AdminError> {
    Ok(crate::crypto::new_client_id(16)?)
}

/// A version tag of a record as the admin API shows it (`ETag`, RFC 9110 §8.8.3): the
/// SHA-256 of its JSON, so any change to any field changes it.
pub fn etag(v: &impl Serialize) -> String {
    let json = serde_json::to_vec(v).unwrap_or_default();
    let digest = crate::crypto::sha256(&json);
    let hex: String = digest
        .as_bytes()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("\"{hex}\"")
}
