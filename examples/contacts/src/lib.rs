//! A tiny in-memory contacts API protected by `valet-resource`: `GET /contacts` needs
//! `contacts.read`, `POST /contacts` needs `contacts.write`, and
//! `/.well-known/oauth-protected-resource` tells clients where tokens come from.
//! Nothing is stored on disk; contacts vanish with the process.

use std::sync::{Arc, RwLock};

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use valet_resource::{ScopeName, Scoped, Validator};

pub struct ContactsRead;
impl ScopeName for ContactsRead {
    const SCOPE: &'static str = "contacts.read";
}

pub struct ContactsWrite;
impl ScopeName for ContactsWrite {
    const SCOPE: &'static str = "contacts.write";
}

#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    pub id: u64,
    pub name: String,
    pub email: Option<String>,
    /// Who added it: the token's `sub` (a user, or a service's client_id).
    pub added_by: String,
}

#[derive(Debug, Deserialize)]
pub struct NewContact {
    pub name: String,
    pub email: Option<String>,
}

#[derive(Clone)]
pub struct AppState {
    validator: Validator,
    contacts: Arc<RwLock<Vec<Contact>>>,
}

impl FromRef<AppState> for Validator {
    fn from_ref(s: &AppState) -> Self {
        s.validator.clone()
    }
}

/// The whole API. `protected: false` serves the same routes with no token check at all;
/// it exists only so `bench/resource.sh` can measure what the check costs.
pub fn app(validator: Validator, protected: bool) -> Router {
    let state = AppState {
        contacts: Arc::new(RwLock::new(Vec::new())),
        validator: validator.clone(),
    };
    let contacts = if protected {
        Router::new().route("/contacts", get(list).post(create))
    } else {
        Router::new().route("/contacts", get(list_open).post(create_open))
    };
    contacts
        .merge(validator.metadata_router())
        .with_state(state)
}

async fn list(State(s): State<AppState>, _: Scoped<ContactsRead>) -> Json<Vec<Contact>> {
    list_open(State(s)).await
}

async fn create(
    State(s): State<AppState>,
    who: Scoped<ContactsWrite>,
    Json(new): Json<NewContact>,
) -> Result<(StatusCode, Json<Contact>), StatusCode> {
    add(&s, new, who.claims().sub.clone())
}

async fn list_open(State(s): State<AppState>) -> Json<Vec<Contact>> {
    Json(s.contacts.read().map(|c| c.clone()).unwrap_or_default())
}

async fn create_open(
    State(s): State<AppState>,
    Json(new): Json<NewContact>,
) -> Result<(StatusCode, Json<Contact>), StatusCode> {
    add(&s, new, "anonymous".into())
}

fn add(
    s: &AppState,
    new: NewContact,
    added_by: String,
) -> Result<(StatusCode, Json<Contact>), StatusCode> {
    if new.name.trim().is_empty() || new.name.len() > 200 {
        return Err(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let mut all = s
        .contacts
        .write()
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    if all.len() >= 10_000 {
        return Err(StatusCode::INSUFFICIENT_STORAGE);
    }
    let contact = Contact {
        id: all.len() as u64 + 1,
        name: new.name,
        email: new.email,
        added_by,
    };
    all.push(contact.clone());
    Ok((StatusCode::CREATED, Json(contact)))
}
