//! Users, wherever they live: the built-in database (`local.rs`) and LDAP directories
//! (`ldap.rs`), configured as `[[user_stores]]` (`config.rs`). Everything that needs a
//! user — the login page, the password grant, sessions, the refresh grant, UserInfo,
//! ID-token claims — goes through `Users`, so every store is treated the same and the
//! login page shows no difference.
//!
//! Order and rules: a login name is offered to the stores in the configured order,
//! skipping those whose `login_pattern` it does not match. The first store that knows
//! the name decides (a wrong password there is wrong; later stores are not asked). A
//! store that cannot answer is skipped; if no later store knows the name, the answer is
//! "unavailable", not "wrong password". A `sub` names its store: a database user's id
//! has no `:`, a directory user's is `<store>:<id>` (`ldap.rs`), and a user an upstream
//! identity provider created just in time is `<upstream>:<subject>` (`upstream/`), kept
//! in the database like a database user but signing in only through the provider.

pub mod config;
mod ldap;
mod local;
mod pool;
pub mod signin;

pub use signin::check_password;

use serde_json::{Map, Value};
use std::sync::Arc;
use valet_protocol::id_token;
use valet_protocol::scope::Scope;
use valet_protocol::user::UserClaims;
use valet_store::{Store, StoreError, UserRecord};

use crate::error::ApiError;
use crate::passwords::Passwords;
use config::{StoreKind, StoreSettings};

/// A signed-in or looked-up user, whichever store they come from.
#[derive(Debug, Clone)]
pub struct User {
    /// The OIDC `sub`: stable, never reassigned.
    pub id: String,
    /// The login name as the store knows it (`preferred_username`).
    pub username: String,
    pub claims: UserClaims,
    /// Further claims a store maps (a directory's groups), released with `profile`.
    pub extra: Map<String, Value>,
    /// What the user may do in Valet's administration: stored with a database user, from
    /// the `admin_group` / `viewer_group` of a directory.
    pub role: valet_protocol::user::Role,
}

impl From<UserRecord> for User {
    fn from(u: UserRecord) -> Self {
        Self {
            id: u.id,
            username: u.username,
            claims: u.claims,
            extra: Map::new(),
            role: u.role,
        }
    }
}

impl User {
    /// The claims `scope` releases (OIDC Core §5.4), `sub` included.
    pub fn claims_for(&self, scope: &Scope) -> Map<String, Value> {
        let mut out = id_token::user_claims(&self.id, &self.username, &self.claims, scope);
        if scope.contains("profile") {
            for (k, v) in &self.extra {
                out.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        out
    }
}

/// What one store says about a login name and password.
pub enum Found {
    User(Box<User>),
    /// The store knows the name; the password is wrong or the user may not sign in.
    Wrong,
    /// The password is right, but the user signed up and has not confirmed their email
    /// address yet (`routes/signup/`): no sign-in until they do.
    Pending,
    Unknown,
}

#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("the store failed")]
    Store(#[from] StoreError),
    /// A directory did not answer in time; retry after so many seconds.
    #[error("user store {store} is not answering")]
    Unavailable { store: String, retry_after: u64 },
    /// Too many password checks at once on this node (`passwords.rs`); retry shortly.
    #[error("too many password checks at once")]
    Busy,
    /// `Found::Pending`: a right password of an account awaiting email confirmation.
    #[error("the account's email address is not confirmed yet")]
    Pending,
}

impl From<UsersError> for ApiError {
    fn from(e: UsersError) -> Self {
        match e {
            UsersError::Store(e) => ApiError::Store(e),
            UsersError::Unavailable { retry_after, .. } => ApiError::Unavailable(retry_after),
            UsersError::Busy => ApiError::Busy(1),
            UsersError::Pending => ApiError::PendingVerification,
        }
    }
}

enum Backend {
    Database(local::Database),
    Ldap(Box<ldap::Directory>),
}

struct Entry {
    settings: StoreSettings,
    backend: Backend,
}

pub struct Users {
    stores: Vec<Entry>,
    passwords: Arc<Passwords>,
    /// Where the users upstream identity providers created live (`<upstream>:<subject>`).
    store: Arc<dyn Store>,
}

impl Users {
    pub fn new(
        settings: &[StoreSettings],
        upstreams: &[crate::upstream::config::UpstreamSettings],
        store: Arc<dyn Store>,
        passwords: Arc<Passwords>,
    ) -> Result<Self, String> {
        let mut stores = Vec::new();
        for s in settings {
            let backend = match &s.kind {
                StoreKind::Database => {
                    Backend::Database(local::Database::new(store.clone(), passwords.clone()))
                }
                StoreKind::Ldap(l) => {
                    Backend::Ldap(Box::new(ldap::Directory::new(&s.name, (**l).clone())?))
                }
            };
            stores.push(Entry {
                settings: s.clone(),
                backend,
            });
        }
        for u in upstreams {
            if stores.iter().any(|e| e.settings.name == u.id) {
                return Err(format!(
                    "upstreams `{}`: a user store has the same name, and a `sub` names one or \
                     the other (`{}:…`)",
                    u.id, u.id
                ));
            }
        }
        Ok(Self {
            stores,
            passwords,
            store,
        })
    }

    /// The user `login` and `password` name, from the first store that knows `login`;
    /// `None` for an unknown user, a wrong password or a disabled user alike.
    pub async fn authenticate(
        &self,
        login: &str,
        password: &str,
    ) -> Result<Option<User>, UsersError> {
        let mut unavailable = None;
        let mut hashed = false;
        for e in &self.stores {
            if let Some(p) = &e.settings.login_pattern {
                if !p.is_match(login) {
                    continue;
                }
            }
            let found = match &e.backend {
                Backend::Database(db) => {
                    hashed = true;
                    db.authenticate(login, password).await?
                }
                Backend::Ldap(dir) => match dir.authenticate(login, password).await {
                    Ok(f) => f,
                    Err(u) => {
                        unavailable.get_or_insert(UsersError::Unavailable {
                            store: e.settings.name.clone(),
                            retry_after: u.retry_after,
                        });
                        continue;
                    }
                },
            };
            match found {
                Found::User(u) => return Ok(Some(*u)),
                Found::Wrong => return Ok(None),
                Found::Pending => return Err(UsersError::Pending),
                Found::Unknown => {}
            }
        }
        if let Some(u) = unavailable {
            return Err(u);
        }
        if !hashed {
            // No store hashed anything: spend the same time an unknown database user
            // costs, so timing does not tell which names a directory knows.
            local::verify(&self.passwords, password, None).await?;
        }
        Ok(None)
    }

    /// The user `sub` names, if they still exist and may sign in.
    /// A new password's hash (argon2id), through the node's password gate (503 when it
    /// is full, as for a sign-in).
    pub async fn hash_password(
        &self,
        password: &str,
    ) -> Result<valet_store::PasswordHash, crate::error::ApiError> {
        self.passwords
            .hash_gated(password)
            .await
            .map_err(|_| crate::error::ApiError::Busy(1))?
            .map_err(|why| {
                tracing::error!(error = %why, "a new password could not be hashed");
                crate::error::ApiError::invariant("a new password could not be hashed")
            })
    }

    pub async fn by_sub(&self, sub: &str) -> Result<Option<User>, UsersError> {
        match sub.split_once(':') {
            Some((name, id)) => {
                for e in &self.stores {
                    if let Backend::Ldap(dir) = &e.backend {
                        if e.settings.name == name {
                            return dir.by_id(id).await.map_err(|u| UsersError::Unavailable {
                                store: name.to_owned(),
                                retry_after: u.retry_after,
                            });
                        }
                    }
                }
                // Not a directory's: a user an upstream provider created (`corp:alice`),
                // kept in the database (stored providers come and go at runtime, so the
                // prefix is not checked against them).
                Ok(self
                    .store
                    .user(sub)
                    .await?
                    .filter(|u| !u.disabled && u.pending_until.is_none())
                    .map(User::from))
            }
            None => {
                for e in &self.stores {
                    if let Backend::Database(db) = &e.backend {
                        return db.by_id(sub).await;
                    }
                }
                Ok(None)
            }
        }
    }

    /// Names of the extra claims stores may release (for discovery's `claims_supported`).
    pub fn extra_claims(&self) -> Vec<String> {
        self.stores
            .iter()
            .filter_map(|e| match &e.settings.kind {
                StoreKind::Ldap(l) => l.groups.as_ref().map(|g| g.claim.clone()),
                StoreKind::Database => None,
            })
            .collect()
    }
}
