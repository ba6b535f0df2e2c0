//! Administration of self-registered applications (issue 14), shared by the CLI and the
//! admin API like the rest of `admin.rs`: list by origin, verify, approve out of
//! quarantine, and initial access tokens for registration (RFC 7591 §3).

use valet_protocol::application::{Application, Origin};

use crate::admin::{Admin, AdminError};
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
    /// "not verified by your administrator" (it never becomes `trusted`).
    pub async fn verify_client(&self, client_id: &str, now: i64) -> Result<(), AdminError> {
        self.set_registration(client_id, now, |r| r.verified = true)
            .await
    }

    /// Lifts the quarantine of a self-registered application; its unused-expiry starts
    /// afresh from now, so an approval that took days does not find it purged at once.
    pub async fn approve_client(
        &self,
        client_id: &str,
        keep_for: i64,
        now: i64,
    ) -> Result<(), AdminError> {
        self.set_registration(client_id, now, |r| r.quarantined = false)
            .await?;
        self.store
            .touch_registration(client_id, now, now + keep_for, 0)
            .await?;
        Ok(())
    }

    async fn set_registration(
        &self,
        client_id: &str,
        now: i64,
        change: impl FnOnce(&mut valet_protocol::application::Registration),
    ) -> Result<(), AdminError> {
        let mut record = self.get(client_id).await?;
        if !record.app.registration.is_self_registered() {
            return Err(AdminError::Invalid(format!(
                "{client_id} was registered by an admin: there is nothing to verify or approve"
            )));
        }
        change(&mut record.app.registration);
        record.updated_at = now;
        self.store.update_client(&record).await?;
        tracing::info!(target: "valet::audit", %client_id,
            verified = record.app.registration.verified,
            quarantined = record.app.registration.quarantined,
            "self-registered application changed by an admin");
        Ok(())
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
        tracing::info!(target: "valet::audit", expires_in = ttl, ?uses,
            "initial access token created");
        Ok(Secret::from_string(token))
    }
}
