//! Users of the built-in user store. Disabling, deleting, a new password and "revoke" end
//! everything the user holds at once: sessions, consents, grants (so refresh tokens, and
//! access tokens at introspection and UserInfo, are dead from the next request on).

use serde::{Deserialize, Serialize};
use valet_protocol::user::{Role, UserClaims, validate_username};
use valet_store::{StoreError, UserRecord};

use super::{Admin, AdminError, Changes, Target, etag};
use crate::crypto::random_token;
use crate::passwords::Passwords;

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

/// `valet user update` / `PATCH /admin/api/users/{username}`: absent fields stay; an
/// empty string clears an optional claim.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct UserChanges {
    pub username: Option<String>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// A user as every face shows it: never the password hash.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub sub: String,
    pub username: String,
    #[serde(flatten)]
    pub claims: UserClaims,
    pub disabled: bool,
    /// Signed up and not confirmed their email address yet (issue 16): cannot sign in,
    /// and is deleted at `pending_until` unless confirmed (or activated by an admin).
    pub pending: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_until: Option<i64>,
    pub role: Role,
    pub has_password: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> Self {
        Self {
            sub: u.id.clone(),
            username: u.username.clone(),
            claims: u.claims.clone(),
            disabled: u.disabled,
            pending: u.pending_until.is_some(),
            pending_until: u.pending_until,
            role: u.role,
            has_password: u.password_hash.is_some(),
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// The part of a view a change compares (timestamps move with every change).
fn compared(u: &UserRecord) -> serde_json::Value {
    let mut v = serde_json::to_value(UserView::from(u)).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("updated_at");
        o.remove("has_password");
        o.remove("pending_until");
    }
    v
}

impl Admin {
    pub async fn create_user(&self, new: NewUser, now: i64) -> Result<UserRecord, AdminError> {
        validate_username(&new.username).map_err(|m| AdminError::field("username", m))?;
        new.claims.validate().map_err(AdminError::Invalid)?;
        let hash = hash_password(&new.password)?;
        let user = UserRecord {
            id: random_token(16)?,
            username: new.username,
            claims: new.claims,
            password_hash: Some(hash),
            disabled: false,
            role: Role::None,
            pending_until: None,
            created_at: now,
            updated_at: now,
        };
        self.store.create_user(&user).await.map_err(|e| match e {
            StoreError::Conflict(_) => {
                AdminError::Conflict(format!("a user named {} already exists", user.username))
            }
            other => AdminError::Store(other),
        })?;
        let changes = Changes::created(&compared(&user)).secret("password");
        self.record("user.create", Target::User(&user.username), changes, now)
            .await?;
        Ok(user)
    }

    pub async fn users(&self) -> Result<Vec<UserRecord>, AdminError> {
        Ok(self.store.users().await?)
    }

    pub async fn user(&self, username: &str) -> Result<UserRecord, AdminError> {
        self.store
            .user_by_username(username)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no user named {username}")))
    }

    pub async fn update_user(
        &self,
        username: &str,
        ch: UserChanges,
        if_match: Option<&str>,
        now: i64,
    ) -> Result<UserRecord, AdminError> {
        let mut u = self.user(username).await?;
        if if_match.is_some_and(|tag| tag != etag(&UserView::from(&u))) {
            return Err(AdminError::Stale("user"));
        }
        let before = u.clone();
        if let Some(n) = ch.username {
            validate_username(&n).map_err(|m| AdminError::field("username", m))?;
            u.username = n;
        }
        let clear = |v: String| (!v.is_empty()).then_some(v);
        if let Some(v) = ch.name {
            u.claims.name = clear(v);
        }
        if let Some(v) = ch.given_name {
            u.claims.given_name = clear(v);
        }
        if let Some(v) = ch.family_name {
            u.claims.family_name = clear(v);
        }
        if let Some(v) = ch.email {
            u.claims.email = clear(v);
            // A new address is not verified unless said so.
            if ch.email_verified.is_none() {
                u.claims.email_verified = false;
            }
        }
        if let Some(v) = ch.email_verified {
            u.claims.email_verified = v;
        }
        if let Some(r) = ch.role {
            u.role = r;
        }
        if let Some(d) = ch.disabled {
            u.disabled = d;
        }
        // An admin who enables a signed-up account, or vouches for its address, activates
        // it: it no longer waits for the emailed link (nor is purged).
        if ch.disabled == Some(false) || ch.email_verified == Some(true) {
            u.pending_until = None;
        }
        u.claims.validate().map_err(AdminError::Invalid)?;
        if self.is_self(&before) && (u.disabled || u.role < before.role) {
            return Err(AdminError::Invalid(
                "you cannot disable yourself or lower your own role: another admin (or the \
                 CLI) can"
                    .into(),
            ));
        }
        let action = match (before.disabled, u.disabled) {
            (false, true) => "user.disable",
            (true, false) => "user.enable",
            _ if before.pending_until.is_some() && u.pending_until.is_none() => "user.activate",
            _ => "user.update",
        };
        self.save_user(&before, u, action, now).await
    }

    pub async fn set_disabled(
        &self,
        username: &str,
        disabled: bool,
        now: i64,
    ) -> Result<UserRecord, AdminError> {
        let ch = UserChanges {
            disabled: Some(disabled),
            ..Default::default()
        };
        self.update_user(username, ch, None, now).await
    }

    /// A new password (the policy applies); every session and grant of the user ends.
    pub async fn set_password(
        &self,
        username: &str,
        password: &str,
        now: i64,
    ) -> Result<UserRecord, AdminError> {
        let mut u = self.user(username).await?;
        let before = u.clone();
        u.password_hash = Some(hash_password(password)?);
        u.updated_at = now;
        if !self.store.update_user(&u).await? {
            return Err(AdminError::NotFound(format!("no user named {username}")));
        }
        let n = self.store.end_user_access(&u.id, now).await?;
        let changes = Changes::default()
            .secret("password")
            .set("grants_revoked", 0, n);
        self.record(
            "user.set_password",
            Target::User(&before.username),
            changes,
            now,
        )
        .await?;
        Ok(u)
    }

    /// Signs the user out everywhere and revokes every grant ("revoke sessions and grants").
    pub async fn revoke_user(&self, username: &str, now: i64) -> Result<u64, AdminError> {
        let u = self.user(username).await?;
        let n = self.store.end_user_access(&u.id, now).await?;
        let changes = Changes::default().set("grants_revoked", 0, n);
        self.record("user.revoke", Target::User(&u.username), changes, now)
            .await?;
        Ok(n)
    }

    /// The help desk's reset of second factors (issue 16): the user's authenticator app
    /// and recovery codes go, so their next sign-in asks for the password alone (or, under
    /// `mfa = "required"`, enrols a new app). `false` if they had none; audited either way.
    pub async fn reset_mfa(&self, username: &str, now: i64) -> Result<bool, AdminError> {
        let u = self.user(username).await?;
        let removed = self.store.remove_second_factors(&u.id).await?;
        let changes = Changes::default().set("second_factors", removed, false);
        self.record("user.mfa_reset", Target::User(&u.username), changes, now)
            .await?;
        Ok(removed)
    }

    /// The help desk's reset for a user named by `sub` — a directory user (`STORE:ID`,
    /// whom the database does not list by name) or a database user's id: removes their
    /// authenticator app, recovery codes and passkeys, which Valet keeps by `sub` for
    /// every store. Audited with the subject as the target.
    pub async fn reset_mfa_of_subject(&self, sub: &str, now: i64) -> Result<bool, AdminError> {
        if sub.is_empty() || sub.len() > 512 {
            return Err(AdminError::Invalid(
                "a subject (sub) is 1 to 512 characters".into(),
            ));
        }
        let removed = self.store.remove_second_factors(sub).await?;
        let changes = Changes::default().set("second_factors", removed, false);
        self.record("user.mfa_reset", Target::User(sub), changes, now)
            .await?;
        Ok(removed)
    }

    pub async fn delete_user(&self, username: &str, now: i64) -> Result<(), AdminError> {
        let before = self.user(username).await?;
        if self.is_self(&before) {
            return Err(AdminError::Invalid(
                "you cannot delete your own account here: another admin (or the CLI) can".into(),
            ));
        }
        if !self.store.delete_user(username, now).await? {
            return Err(AdminError::NotFound(format!("no user named {username}")));
        }
        let changes = Changes::removed(&compared(&before));
        self.record("user.delete", Target::User(&before.username), changes, now)
            .await
    }

    /// The change is made by the user it is about (signed in to the console or the API):
    /// an admin never locks themselves out by mistake.
    fn is_self(&self, u: &UserRecord) -> bool {
        self.actor.who == format!("user:{}", u.username)
    }

    async fn save_user(
        &self,
        before: &UserRecord,
        mut u: UserRecord,
        action: &str,
        now: i64,
    ) -> Result<UserRecord, AdminError> {
        let changes = Changes::diff(&compared(before), &compared(&u));
        if changes.is_empty() {
            return Ok(u);
        }
        u.updated_at = now;
        let saved = self.store.update_user(&u).await.map_err(|e| match e {
            StoreError::Conflict(_) => AdminError::field(
                "username",
                format!("a user named {} already exists", u.username),
            ),
            other => AdminError::Store(other),
        })?;
        if !saved {
            return Err(AdminError::NotFound(format!(
                "no user named {}",
                before.username
            )));
        }
        // A disabled user holds nothing any more (checked again at every request anyway).
        if u.disabled && !before.disabled {
            self.store.end_user_access(&u.id, now).await?;
        }
        self.record(action, Target::User(&before.username), changes, now)
            .await?;
        Ok(u)
    }
}

fn hash_password(password: &str) -> Result<valet_store::PasswordHash, AdminError> {
    Passwords::check_policy(password).map_err(|m| AdminError::field("password", m))?;
    let passwords = Passwords::new().map_err(AdminError::Invalid)?;
    passwords.hash(password).map_err(AdminError::Invalid)
}
