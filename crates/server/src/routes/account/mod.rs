//! `/account`: a signed-in user's own page. This file renders it; each change is a
//! CSRF-checked form of its own file: apps.rs (the applications they allowed: one
//! removed, or one scope of it withdrawn),
//! sessions.rs (the browsers signed in, and "Sign out everywhere"), password.rs (a new
//! password), passkeys.rs (adding, renaming, removing one); device.rs names a browser from
//! its `User-Agent`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use std::time::Duration;
use valet_protocol::consent;
use valet_protocol::scope::Scope;
use valet_protocol::withdraw;

use crate::error::ApiError;
use crate::session::Browser;
use crate::state::{AppState, Shared};

use super::authorize::{ScopeView, describe};
use super::login::see_other;

mod apps;
mod device;
mod passkeys;
mod password;
mod sessions;
pub use apps::{revoke, withdraw_scope};
pub use passkeys::{add as add_passkey, remove as remove_passkey, rename as rename_passkey};
pub use password::change as change_password;
pub use sessions::{end as end_session, end_all as end_all_sessions};

pub async fn show(
    State(state): State<Shared>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let now = state.clock.now();
    async {
        let notice =
            crate::routes::upstream::linked_notice(&state, &headers, query.as_deref(), now).await?;
        show_inner(&state, &headers, notice, now).await
    }
    .await
    .unwrap_or_else(|e| e.into_page(&state.pages))
}

pub(super) async fn show_inner(
    state: &AppState,
    headers: &HeaderMap,
    notice: Option<String>,
    now: i64,
) -> Result<Response, ApiError> {
    show_with(state, headers, notice, None, now).await
}

/// The page with a notice of what was done, or of what went wrong (`problem`, with the
/// status to answer it with).
pub(super) async fn show_with(
    state: &AppState,
    headers: &HeaderMap,
    notice: Option<String>,
    problem: Option<(StatusCode, String)>,
    now: i64,
) -> Result<Response, ApiError> {
    let Some(b) = Browser::from_headers(state, headers, now).await? else {
        return Ok(see_other("/login"));
    };
    page(state, &b, notice, problem, now).await
}

/// The signed-in browser that submitted an account form with a valid CSRF token, or the
/// page to answer instead (the login page for no session, a form that was not verified).
pub(crate) async fn signed_in_form(
    state: &AppState,
    headers: &HeaderMap,
    csrf: Option<&str>,
    now: i64,
) -> Result<Result<Browser, Response>, ApiError> {
    let Some(b) = Browser::from_headers(state, headers, now).await? else {
        return Ok(Err(see_other("/login")));
    };
    if !b.check_csrf(state, csrf) {
        use crate::error::{FormKind, Page};
        return Ok(Err(
            ApiError::from(Page::FormUnverified(FormKind::Account)).into_page(&state.pages)
        ));
    }
    Ok(Ok(b))
}

/// The account page for `b`, with a `notice` of what was done or a `problem` of what was
/// not (and the status to answer it with).
pub async fn page(
    state: &AppState,
    b: &Browser,
    notice: Option<String>,
    problem: Option<(StatusCode, String)>,
    now: i64,
) -> Result<Response, ApiError> {
    #[derive(Serialize)]
    struct GrantView {
        client_id: String,
        name: String,
        /// Valet's own URL of the logo (`logos.rs`), not waited for: a page of many.
        logo: Option<String>,
        website: Option<String>,
        scopes: Vec<ScopeLine>,
        granted_at: String,
        /// For an application that registered itself (an agent): where it is from.
        agent: Option<AgentView>,
    }
    #[derive(Serialize)]
    struct ScopeLine {
        #[serde(flatten)]
        view: ScopeView,
        /// Offered a button of its own (`withdraw::withdrawable`).
        withdrawable: bool,
    }
    #[derive(Serialize)]
    struct AgentView {
        host: Option<String>,
        verified: bool,
        /// When it last got tokens (recorded at most once an hour), for a dynamic one.
        last_used: Option<String>,
    }
    let mut grants = Vec::new();
    for c in state.store.consents_of_user(&b.user.id).await? {
        let scope = Scope::parse(&c.scope).unwrap_or_default();
        let client = state.catalog.client(&c.client_id).await?;
        // An application that cannot be read any more (a metadata document gone) still
        // shows, by its client_id, so the person can remove what they allowed.
        let mut agent = client.as_ref().map(|c| &c.app).and_then(|app| {
            app.registration.is_self_registered().then(|| {
                let p = consent::provenance(app, app.redirect_uris.first().map_or("", |u| u));
                AgentView {
                    host: p.client_host.or(p.redirect_host),
                    verified: p.verified,
                    last_used: None,
                }
            })
        });
        if let Some(a) = agent.as_mut() {
            a.last_used = state
                .store
                .registration(&c.client_id)
                .await?
                .and_then(|r| r.last_used_at)
                .map(date);
        }
        grants.push(GrantView {
            client_id: c.client_id.clone(),
            name: client
                .as_ref()
                .map_or_else(|| c.client_id.clone(), |cl| cl.app.name.clone()),
            // As on the consent page: an unverified agent's logo is not loaded.
            logo: match &client {
                Some(cl) => state.logos.page_url(&cl.app, Duration::ZERO).await,
                None => None,
            },
            website: client.as_ref().and_then(|cl| cl.app.website.clone()),
            scopes: describe(state, &scope)
                .await?
                .into_iter()
                .map(|v| ScopeLine {
                    withdrawable: withdraw::withdrawable(&scope, &v.name),
                    view: v,
                })
                .collect(),
            granted_at: date(c.updated_at),
            agent,
        });
    }
    #[derive(Serialize)]
    struct UserView<'a> {
        username: &'a str,
        name: Option<&'a str>,
        email: Option<&'a str>,
        email_verified: bool,
    }
    /// Second factors (issue 16): offered unless `mfa = "off"`.
    #[derive(Serialize)]
    struct MfaView {
        /// An authenticator app is set up.
        enrolled: bool,
        recovery_left: u64,
    }
    let sessions = sessions::list(state, b, now).await?;
    #[derive(Serialize)]
    struct View<'a> {
        user: UserView<'a>,
        grants: Vec<GrantView>,
        sessions: Vec<sessions::SessionView>,
        csrf: String,
        notice: Option<String>,
        mfa: Option<MfaView>,
        problem: Option<String>,
        /// A user of the built-in store changes their password here; a directory's there.
        own_password: bool,
        passkeys: Option<passkeys::PasskeysView>,
        /// Upstream identity providers: the linked accounts, and links to make.
        upstreams: Vec<crate::routes::upstream::LinkView>,
    }
    // A user the provider created has no password to change (they sign in there).
    let own_password = state
        .store
        .user(&b.user.id)
        .await?
        .is_some_and(|u| u.password_hash.is_some());
    let status = problem.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let mfa = if state.settings.mfa == valet_protocol::mfa::Policy::Off {
        None
    } else {
        Some(MfaView {
            enrolled: state.store.totp(&b.user.id).await?.is_some(),
            recovery_left: state.store.recovery_codes_left(&b.user.id).await?,
        })
    };
    Ok(state.pages.render(
        status,
        "account.html",
        View {
            user: UserView {
                username: &b.user.username,
                name: b.user.claims.name.as_deref(),
                email: b.user.claims.email.as_deref(),
                email_verified: b.user.claims.email_verified,
            },
            grants,
            sessions,
            csrf: b.csrf(state),
            notice,
            mfa,
            problem: problem.map(|(_, p)| p),
            own_password,
            passkeys: passkeys::section(state, b, now).await?,
            upstreams: crate::routes::upstream::section(state, &b.user.id).await?,
        },
    ))
}

/// `YYYY-MM-DD` (UTC) of a Unix time, for people (civil-from-days, H. Hinnant).
pub(crate) fn date(t: i64) -> String {
    let z = t.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:MM UTC` of a Unix time, for people.
pub(crate) fn time(t: i64) -> String {
    let s = t.rem_euclid(86_400);
    format!("{} {:02}:{:02} UTC", date(t), s / 3600, s % 3600 / 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn times() {
        assert_eq!(super::time(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::time(1_700_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(super::time(-60), "1969-12-31 23:59 UTC");
    }

    #[test]
    fn dates() {
        assert_eq!(super::date(0), "1970-01-01");
        assert_eq!(super::date(1_700_000_000), "2023-11-14");
        assert_eq!(super::date(951_782_400), "2000-02-29");
    }
}
