//! After a complete sign-in: on to where it was going, and the new recovery codes' page
//! with its Continue (`POST /login/continue`).

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use valet_protocol::UnixTime;
use valet_protocol::application::Application;

use crate::error::{ApiError, FormKind, Page};
use crate::interaction::{self, Interaction, Kind, form_spent};
use crate::routes::login::see_other;
use crate::session::{Browser, with_cookies};
use crate::state::{AppState, Shared};

use super::Then;

/// Takes a complete sign-in on to where it was going.
pub async fn continue_to(
    state: &AppState,
    headers: &HeaderMap,
    app: Option<Application>,
    then: Then,
    browser: Browser,
    cookies: Vec<HeaderValue>,
    now: UnixTime,
) -> Result<Response, ApiError> {
    if matches!(then, Then::Admin) {
        return Ok(with_cookies(see_other("/admin"), cookies));
    }
    match (app, then.into_interaction()) {
        (Some(app), Some(i)) => {
            if let Some(r) = interaction::recheck(state, &app, &i) {
                return Ok(with_cookies(r, cookies));
            }
            interaction::resume(state, headers, &app, i, browser, cookies, now).await
        }
        _ => Ok(with_cookies(see_other("/account"), cookies)),
    }
}

/// The new recovery codes, shown once; `then` is where Continue goes (`None`: a link
/// back to `/account`).
pub fn recovery_page(
    state: &AppState,
    b: &Browser,
    then: Option<Then>,
    codes: &[String],
    now: UnixTime,
) -> Result<Response, ApiError> {
    #[derive(Serialize)]
    struct View<'a> {
        codes: &'a [String],
        csrf: String,
        interaction: Option<String>,
    }
    let interaction = match then {
        Some(t) => Some(interaction::seal(
            state,
            &b.binding(),
            &Interaction::Continue(t),
            now,
        )?),
        None => None,
    };
    let mut r = state.pages.render(
        StatusCode::OK,
        "recovery_codes.html",
        View {
            codes,
            csrf: b.csrf(state),
            interaction,
        },
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

#[derive(Deserialize)]
pub struct ContinueForm {
    csrf: Option<String>,
    interaction: Option<String>,
}

/// `POST /login/continue`: the recovery codes page's Continue.
pub async fn resume(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<ContinueForm>,
) -> Response {
    resume_inner(&state, &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn resume_inner(
    state: &AppState,
    headers: &HeaderMap,
    form: ContinueForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let Some(b) = Browser::from_headers(state, headers, now).await? else {
        return Ok(Page::SessionEnded(FormKind::SignIn).into_page(&state.pages));
    };
    if !b.check_csrf(state, form.csrf.as_deref()) {
        return Ok(Page::FormUnverified(FormKind::SignIn).into_page(&state.pages));
    }
    let Some(opened) = form
        .interaction
        .as_deref()
        .and_then(|v| interaction::open(state, &[Kind::Continue], &b.binding(), v, now))
    else {
        return Ok(form_spent(state));
    };
    if !opened.consume(state).await? {
        return Ok(form_spent(state));
    }
    let Interaction::Continue(then) = opened.interaction else {
        return Ok(form_spent(state));
    };
    let app = match then.client_id() {
        Some(id) => match state.catalog.client(id).await? {
            Some(c) => Some(c.app.clone()),
            None => return Ok(form_spent(state)),
        },
        None => None,
    };
    continue_to(state, headers, app, then, b, vec![], now).await
}
