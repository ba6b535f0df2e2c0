//! Administration of self-registered applications (issue 14), shared by the CLI and the
//! admin API like the rest of `admin.rs`: list by origin, verify, quarantine and approve
//! out of quarantine (a metadata document client through a stored override), and initial
//! access tokens for registration (RFC 7591 §3).

use valet_protocol::application::{
    Application, AuthMethod, GrantType, Origin, Profile, Registration,
};
use valet_protocol::cimd;
use valet_store::ClientRecord;

use super::{Admin, AdminError, Changes, Target};
use crate::crypto::{Secret, random_token, sha256};

/// Longest life of an initial access token (a year) and its default (a day).
pub const MAX_INITIAL_TOKEN_TTL: i64 = 365 * 86_400;
pub const DEFAULT_INITIAL_TOKEN_TTL: i64 = 86_400;

impl Admin {
    /// The applications of one origin (`None`: all).
    pub async fn list_by_origin(
        &self,
        origin: Option<Origin>,
    ) -> Result<Vec<Application>, AdminError> {
        let all = self.list().await?;
        Ok(all
            .into_iter()
            .filter(|a| origin.is_none_or(|o| a.registration.origin == o))
            .collect())
    }

    /// An admin vouches for a self-registered application: the consent page stops saying
    /// "not verified by your administrator" (it never becomes `trusted`). A metadata
    /// document client without a stored record gets one (`cimd_override`). Answers the
    /// stored application.
    pub async fn verify_client(
        &self,
        client_id: &str,
        now: i64,
    ) -> Result<Application, AdminError> {
        self.set_registration(client_id, "client.verify", now, |r| r.verified = true)
            .await
    }

    /// Lifts the quarantine of a self-registered application; its unused-expiry starts
    /// afresh from now, so an approval that took days does not find it purged at once.
    pub async fn approve_client(
        &self,
        client_id: &str,
        keep_for: i64,
        now: i64,
    ) -> Result<Application, AdminError> {
        let app = self
            .set_registration(client_id, "client.approve", now, |r| r.quarantined = false)
            .await?;
        // A metadata document client has no `registrations` row: nothing to move on.
        self.store
            .touch_registration(client_id, now, now + keep_for, 0)
            .await?;
        Ok(app)
    }

    /// Puts a self-registered application in quarantine: it can neither sign users in nor
    /// get tokens until `approve_client`.
    pub async fn quarantine_client(
        &self,
        client_id: &str,
        now: i64,
    ) -> Result<Application, AdminError> {
        self.set_registration(client_id, "client.quarantine", now, |r| {
            r.quarantined = true
        })
        .await
    }

    async fn set_registration(
        &self,
        client_id: &str,
        action: &str,
        now: i64,
        change: impl Fn(&mut Registration),
    ) -> Result<Application, AdminError> {
        // Twice at most: an override another admin created meanwhile is then changed.
        for _ in 0..2 {
            let Some(mut record) = self.store.client(client_id).await? else {
                if !cimd::is_metadata_url(client_id) {
                    return Err(AdminError::NotFound(format!(
                        "no application with client_id {client_id}"
                    )));
                }
                match self
                    .create_cimd_override(client_id, action, now, &change)
                    .await
                {
                    Err(AdminError::Conflict(_)) => continue,
                    other => return other,
                }
            };
            if !record.app.registration.is_self_registered() {
                return Err(AdminError::Invalid(format!(
                    "{client_id} was registered by an admin: there is nothing to verify, \
                     approve or quarantine"
                )));
            }
            let before = record.app.registration.clone();
            change(&mut record.app.registration);
            record.updated_at = now;
            self.store.update_client(&record).await?;
            self.forget_client(client_id);
            let changes = Changes::diff(&before, &record.app.registration);
            self.record(action, Target::Client(client_id), changes, now)
                .await?;
            return Ok(record.app);
        }
        Err(AdminError::Conflict(format!(
            "{client_id} changed while being updated: try again"
        )))
    }

    /// A Client ID Metadata Document client is its document: nothing is stored until an
    /// admin decides something about it. That decision is a stored record of origin
    /// `cimd` of which the catalog reads only the `verified` and `quarantined` flags (and
    /// `created_at`), laid over the fetched document; the rest is a placeholder that can
    /// do nothing on its own (public, no secret, no redirect URI, no scope). The document
    /// is not fetched here: the CLI may not reach it, and it is checked at every use.
    async fn create_cimd_override(
        &self,
        url: &str,
        action: &str,
        now: i64,
        change: &impl Fn(&mut Registration),
    ) -> Result<Application, AdminError> {
        cimd::parse_client_id(url).map_err(AdminError::Invalid)?;
        let mut registration = Registration {
            origin: Origin::Cimd,
            ..Default::default()
        };
        change(&mut registration);
        let app = Application {
            client_id: url.to_owned(),
            name: url.to_owned(),
            description: None,
            website: None,
            logo_uri: None,
            policy_uri: None,
            profile: Profile::Native,
            redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: vec![],
            token_endpoint_auth_method: AuthMethod::None,
            token_endpoint_auth_method_chosen: true,
            trusted: false,
            service_subject: None,
            post_logout_redirect_uris: vec![],
            allow_plain_pkce: false,
            require_pkce: true,
            require_mfa: false,
            id_token_on_refresh: true,
            cors_origins: vec![],
            access_token_format: Default::default(),
            access_token_ttl: None,
            refresh_token_ttl: None,
            backchannel_logout_uri: None,
            assurance: Default::default(),
            backchannel_logout_session_required: false,
            registration,
        };
        self.store
            .create_client(&ClientRecord {
                app: app.clone(),
                secret: None,
                previous_secret: None,
                created_at: now,
                updated_at: now,
            })
            .await?;
        self.forget_client(url);
        let changes = Changes::diff(&Registration::default(), &app.registration);
        self.record(action, Target::Client(url), changes, now)
            .await?;
        Ok(app)
    }

    /// A new initial access token (shown once; stored as its SHA-256): `uses`
    /// registrations (`None`: any number) within `expires_in` seconds.
    pub async fn create_initial_access_token(
        &self,
        expires_in: Option<i64>,
        uses: Option<u32>,
        now: i64,
    ) -> Result<Secret, AdminError> {
        let ttl = expires_in.unwrap_or(DEFAULT_INITIAL_TOKEN_TTL);
        if !(60..=MAX_INITIAL_TOKEN_TTL).contains(&ttl) {
            return Err(AdminError::Invalid(format!(
                "--expires-in must be between 60 and {MAX_INITIAL_TOKEN_TTL} seconds"
            )));
        }
        if uses == Some(0) {
            return Err(AdminError::Invalid(
                "--uses must be at least 1 (leave it out for any number)".into(),
            ));
        }
        let token = format!("valet_iat_{}", random_token(32)?);
        self.store
            .create_initial_access_token(&sha256(token.as_bytes()), uses, now, now + ttl)
            .await?;
        let changes = Changes::default()
            .secret("initial_access_token")
            .set("expires_at", None::<i64>, now + ttl)
            .set("uses", None::<u32>, uses);
        self.record("registration.token.create", Target::Server, changes, now)
            .await?;
        Ok(Secret::from_string(token))
    }
}
