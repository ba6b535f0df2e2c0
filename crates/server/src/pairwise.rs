//! Pairwise subject identifiers (OIDC Core §8.1): an application registered with
//! `subject_type` `pairwise` sees, for each user, a `sub` of its sector identifier (the
//! host of its redirect URIs) alone — an HMAC under a key derived from the master key, of
//! the sector and the user's id — so two sectors cannot match their users, and every node
//! computes the same value. ID tokens and UserInfo carry it; access tokens, which APIs
//! read, keep the user's id.

use valet_protocol::application::{Application, SubjectType};

use crate::crypto::b64;
use crate::state::AppState;

/// The `sub` `app` sees for the user `user_id`.
pub fn subject(state: &AppState, app: &Application, user_id: &str) -> String {
    if app.assurance.subject_type != SubjectType::Pairwise {
        return user_id.to_owned();
    }
    let sector = app.sector_identifier().unwrap_or(&app.client_id);
    b64(&state.pairwise.hash(&format!("{sector}\n{user_id}")).0)
}
