//! Tokens in the authorization response (OIDC Core §3.2.2.5, the implicit flow): what
//! `response_type=id_token` and `id_token token` yield. Never a refresh token (RFC 6749
//! §4.2.2; checklist G9, I1).

use serde_json::{Map, Value};

use crate::application::Application;
use crate::audience::Selection;
use crate::authorize::AuthorizationRequest;
use crate::token::{Authentication, IdTokenPlan, Issuance, Refresh};

/// The issuance of an implicit response for a signed-in, consenting user. `user_claims`
/// are the claims the scope releases (`id_token::user_claims`): they go into the ID
/// token only when no access token lets the client call UserInfo (OIDC Core §5.4;
/// checklist J9).
pub fn issuance(
    app: &Application,
    req: &AuthorizationRequest,
    user_id: &str,
    grant_id: &str,
    authentication: Authentication,
    user_claims: Map<String, Value>,
) -> Issuance {
    let access_token = req.response_type.has_access_token();
    let mut i = Issuance::for_user(
        app,
        user_id,
        grant_id,
        authentication,
        Selection {
            scope: req.scope.clone(),
            audience: req.audience.clone(),
        },
        None,
    );
    i.access_token = access_token;
    i.id_token = req.response_type.has_id_token().then(|| IdTokenPlan {
        nonce: req.nonce.clone(),
        claims: if access_token {
            Map::new()
        } else {
            user_claims
        },
    });
    i.refresh = Refresh::None;
    i
}
