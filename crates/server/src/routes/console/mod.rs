//! `/admin`: the web console, a server-rendered face over `crate::admin::Admin` (issue 15),
//! beside the CLI and the JSON admin API (`routes/admin/`). One file per area; templates
//! in `templates/admin/`.
//!
//! Who may use it: a person signed in to Valet itself (no session: to `/login?to=admin`
//! and back) whose built-in account has a role: `viewer` reads every page, `admin` also
//! changes things. Anyone else gets a 403 page. A second factor for admins does not exist
//! yet; when second factors do, the console must require one.
//!
//! Every change is a form POST carrying the session's CSRF token, refused with 403 for a
//! viewer whatever the form says (checked here, not only hidden in the templates), made
//! through `Admin` as `Actor::user(username, address)` so it is audited, then answered
//! with a 303 to a page that shows the outcome (`?done=…`, a fixed message chosen by
//! code, never text from the URL). A value that breaks a rule re-renders the form with
//! the message beside its field and the entered values kept. A secret (a new client
//! secret) is shown once, on the POST's own answer, never in a URL.

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use valet_protocol::user::Role;

use crate::admin::{Actor, Admin, AdminError};
use crate::error::ApiError;
use crate::session::Browser;
use crate::state::Shared;

mod apis;
pub(crate) mod audit;
mod clients;
mod clients_edit;
mod fields;
mod grants;
mod home;
mod keys;
mod upstreams;
mod users;

pub use fields::{Fields, form_errors};

pub fn router() -> Router<Shared> {
    Router::new()
        .merge(home::router())
        .merge(clients::router())
        .merge(clients_edit::router())
        .merge(apis::router())
        .merge(users::router())
        .merge(grants::router())
        .merge(keys::router())
        .merge(upstreams::router())
        .merge(audit::router())
}

/// The templates of the console, registered by `pages.rs`.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "admin/layout.html",
        include_str!("../../../templates/admin/layout.html"),
    ),
    (
        "admin/home.html",
        include_str!("../../../templates/admin/home.html"),
    ),
    (
        "admin/clients.html",
        include_str!("../../../templates/admin/clients.html"),
    ),
    (
        "admin/client_new.html",
        include_str!("../../../templates/admin/client_new.html"),
    ),
    (
        "admin/client.html",
        include_str!("../../../templates/admin/client.html"),
    ),
    (
        "admin/secret.html",
        include_str!("../../../templates/admin/secret.html"),
    ),
    (
        "admin/token.html",
        include_str!("../../../templates/admin/token.html"),
    ),
    (
        "admin/apis.html",
        include_str!("../../../templates/admin/apis.html"),
    ),
    (
        "admin/api.html",
        include_str!("../../../templates/admin/api.html"),
    ),
    (
        "admin/users.html",
        include_str!("../../../templates/admin/users.html"),
    ),
    (
        "admin/user.html",
        include_str!("../../../templates/admin/user.html"),
    ),
    (
        "admin/grants.html",
        include_str!("../../../templates/admin/grants.html"),
    ),
    (
        "admin/keys.html",
        include_str!("../../../templates/admin/keys.html"),
    ),
    (
        "admin/upstreams.html",
        include_str!("../../../templates/admin/upstreams.html"),
    ),
    (
        "admin/audit.html",
        include_str!("../../../templates/admin/audit.html"),
    ),
    (
        "admin/events.html",
        include_str!("../../../templates/admin/events.html"),
    ),
    (
        "admin/grant_rows.html",
        include_str!("../../../templates/admin/grant_rows.html"),
    ),
    (
        "admin/confirm.html",
        include_str!("../../../templates/admin/confirm.html"),
    ),
];

/// Whether `b` must add a second factor before administering: unless `mfa = "off"`, a
/// browser session administers only when it was signed in with two factors (RFC 8176
/// `mfa`), for the console and the admin API alike.
pub fn needs_two_factors(state: &crate::state::AppState, b: &Browser) -> bool {
    state.settings.mfa != valet_protocol::mfa::Policy::Off
        && !valet_protocol::mfa::has_two_factors(&b.session.amr)
}

/// A signed-in person with a role, for one request; the clock is read once, here.
pub struct Console {
    pub state: Shared,
    pub browser: Browser,
    pub role: Role,
    pub now: i64,
    pub actor: Actor,
}

impl FromRequestParts<Shared> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Response> {
        let now = state.clock.now();
        let page = |e: ApiError| e.into_page(&state.pages);
        let Some(browser) = Browser::from_headers(state, &parts.headers, now)
            .await
            .map_err(page)?
        else {
            return Err(crate::routes::login::see_other("/login?to=admin"));
        };
        // The role comes with the user from their store at each request (a database
        // user's record, a directory's admin_group / viewer_group), as for the admin API.
        let role = browser.user.role;
        if !role.can_read() {
            return Err(state.pages.error(
                StatusCode::FORBIDDEN,
                "No access to the console",
                &format!(
                    "You are signed in as {}, and this account has no administrative role.",
                    browser.user.username
                ),
                Some(
                    "Ask an administrator to give your account the viewer or admin role \
                     (valet user update USERNAME --role viewer).",
                ),
            ));
        }
        // Administration needs two factors wherever second factors exist (issue 15): a
        // password session of someone who has one is asked for it (a step-up that comes
        // back here); someone without one is told to set one up first.
        if needs_two_factors(state, &browser) {
            if crate::mfa::enrolled(state, &browser.user.id)
                .await
                .map_err(page)?
            {
                return Err(crate::routes::second_factor::start(
                    state,
                    &parts.headers,
                    &browser.user,
                    browser.session.auth_time,
                    crate::routes::second_factor::Then::Admin,
                    false,
                    now,
                )
                .await
                .unwrap_or_else(page));
            }
            return Err(state.pages.error(
                StatusCode::FORBIDDEN,
                "Two-step verification needed",
                "The console is for accounts protected by a second factor: an authenticator \
                 app or a passkey.",
                Some("Set one up on your account page (/account), then open the console again."),
            ));
        }
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let actor = Actor::user(&browser.user.username, address);
        Ok(Self {
            state: state.clone(),
            browser,
            role,
            now,
            actor,
        })
    }
}

impl Console {
    /// Administration as this person, for reading.
    pub fn admin(&self) -> Admin {
        self.state.admin(self.actor.clone())
    }

    /// Administration as this person, for a change posted in `form`: the session's CSRF
    /// token must come with it, and the role must be `admin` (otherwise the 403 page,
    /// boxed: a `Response` is large).
    pub fn change(&self, form: &Fields) -> Result<Admin, Box<Response>> {
        if !self.browser.check_csrf(&self.state, form.get("csrf")) {
            return Err(Box::new(self.state.pages.error(
                StatusCode::FORBIDDEN,
                "This form could not be verified",
                "Nothing was changed: the form did not carry this session's token (it may \
                 be from another session, or from another site).",
                Some("Open the page again and retry."),
            )));
        }
        if !self.role.can_write() {
            return Err(Box::new(self.state.pages.error(
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Your role is viewer: you can read everything, and change nothing.",
                None,
            )));
        }
        Ok(self.admin())
    }

    /// Renders a console page: `ctx` plus `console` (who, role, CSRF token, the section)
    /// and `flash` (the outcome a `?done=` names).
    pub fn render(&self, name: &str, section: &str, done: Option<&str>, ctx: Value) -> Response {
        self.render_status(StatusCode::OK, name, section, done, ctx)
    }

    pub fn render_status(
        &self,
        status: StatusCode,
        name: &str,
        section: &str,
        done: Option<&str>,
        ctx: Value,
    ) -> Response {
        let mut ctx = match ctx {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        ctx.insert(
            "console".into(),
            json!({
                "username": self.browser.user.username,
                "role": self.role.as_str(),
                "can_write": self.role.can_write(),
                "csrf": self.browser.csrf(&self.state),
                "section": section,
            }),
        );
        if let Some(text) = done.and_then(flash) {
            ctx.insert("flash".into(), Value::String(text.into()));
        }
        self.state.pages.render(status, name, Value::Object(ctx))
    }

    /// An error as a console page (not found, a rule broken, the store down).
    pub fn fail(&self, e: AdminError) -> Response {
        ApiError::from(e).into_page(&self.state.pages)
    }
}

/// The outcome messages a `?done=` may name.
fn flash(code: &str) -> Option<&'static str> {
    Some(match code {
        "client.created" => "The application was created.",
        "client.updated" => "The application was saved.",
        "client.unchanged" => "Nothing changed.",
        "client.redirect_added" => "The redirect URI was added.",
        "client.redirect_removed" => "The redirect URI was removed.",
        "client.grants_revoked" => {
            "Every grant of the application was revoked: its refresh tokens stopped working and \
             its access tokens read inactive."
        }
        "client.deleted" => "The application was deleted.",
        "client.registration" => "The decision on the self-registered application was recorded.",
        "api.created" => "The API was created.",
        "api.updated" => "The API was saved.",
        "api.scope_added" => "The scope was added.",
        "api.scope_removed" => "The scope was removed.",
        "api.deleted" => "The API was deleted.",
        "user.created" => "The user was created.",
        "user.updated" => "The user was saved.",
        "user.disabled" => "The user was disabled and signed out everywhere.",
        "user.enabled" => "The user was enabled.",
        "user.password" => "The password was set; the user was signed out everywhere.",
        "user.revoked" => "Every session and grant of the user was ended.",
        "user.deleted" => "The user was deleted.",
        "grant.revoked" => "The grant was revoked.",
        "key.rotated" => {
            "A new key was created: published now, signing after the activation delay."
        }
        "key.revoked" => "The key was revoked: it no longer signs and is no longer published.",
        "upstream.removed" => {
            "The identity provider was removed: no longer offered on the login page. Its users stay."
        }
        _ => return None,
    })
}

/// A 303 to a console path built from fixed text and `seg`-encoded values.
pub fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// A value as one path segment or query value: every byte but `A-Za-z0-9-._~` as `%XX`.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `?done=` of a page's query, and its other parameters.
pub fn query(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Rows of a list held whole (applications, users), sorted: the page after the row whose
/// key is `?after=`, at most `LIST_PAGE`, and the `after` of the next page if any.
pub fn paged<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    q: &[(String, String)],
) -> (Vec<T>, Option<String>) {
    const LIST_PAGE: usize = 100;
    let start = param(q, "after")
        .and_then(|a| items.iter().position(|i| key(i) == a))
        .map_or(0, |p| p + 1);
    let more = items.len() > start + LIST_PAGE;
    let page: Vec<T> = items.into_iter().skip(start).take(LIST_PAGE).collect();
    let next = if more { page.last().map(&key) } else { None };
    (page, next)
}

/// The same list's URL with `after` set (its other parameters kept, `done` dropped).
pub fn next_url(path: &str, q: &[(String, String)], after: Option<String>) -> Option<String> {
    let after = after?;
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in q {
        if k != "after" && k != "done" && !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    s.append_pair("after", &after);
    Some(format!("{path}?{}", s.finish()))
}

/// `YYYY-MM-DD HH:MM` (UTC) of a Unix time.
pub fn when(t: i64) -> String {
    let s = t.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02}",
        crate::routes::account::date(t),
        s / 3600,
        s / 60 % 60
    )
}

/// A view's timestamps: every `*_at` / `*_until` number also as `NAME_text`.
pub fn with_times(v: impl Serialize) -> Value {
    let mut v = serde_json::to_value(v).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        let times: Vec<(String, i64)> = m
            .iter()
            .filter(|(k, _)| k.ends_with("_at") || k.ends_with("_until") || *k == "auth_time")
            .filter_map(|(k, v)| v.as_i64().map(|t| (format!("{k}_text"), t)))
            .collect();
        for (k, t) in times {
            m.insert(k, Value::String(when(t)));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_whole() {
        assert_eq!(
            seg("https://api.example/x y"),
            "https%3A%2F%2Fapi.example%2Fx%20y"
        );
        assert_eq!(seg("abc-_.~"), "abc-_.~");
    }

    #[test]
    fn long_lists_come_in_pages() {
        let items: Vec<u32> = (0..250).collect();
        let key = |i: &u32| i.to_string();
        let (p1, after) = paged(items.clone(), key, &[]);
        assert_eq!((p1.len(), after.as_deref()), (100, Some("99")));
        let q = vec![("after".to_owned(), "199".to_owned())];
        let (p3, after) = paged(items, key, &q);
        assert_eq!((p3[0], p3.len(), after), (200, 50, None));
        let q = vec![
            ("q".to_owned(), "a b".to_owned()),
            ("done".to_owned(), "x".to_owned()),
        ];
        assert_eq!(
            next_url("/admin/users", &q, Some("99".into())).as_deref(),
            Some("/admin/users?q=a+b&after=99")
        );
    }

    #[test]
    fn flash_codes_only() {
        assert!(flash("client.created").is_some());
        assert!(flash("<script>").is_none());
    }

    #[test]
    fn every_console_template_renders_and_escapes() {
        // Each page's own context is built by its handler (the HTTP tests render every
        // page); here, what is missing is empty, so that escaping is what is tested.
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        env.add_template("base.html", include_str!("../../../templates/base.html"))
            .unwrap();
        for (name, source) in TEMPLATES {
            env.add_template(name, source).unwrap();
        }
        let evil = "<script>alert(1)</script>";
        let ctx = json!({
            "console": {"username": evil, "role": "admin", "can_write": true, "csrf": evil,
                        "section": "home"},
            "flash": evil, "q": evil, "v": {"name": evil}, "errors": {"name": evil, "form": evil},
            "title": evil, "message": evil, "action": "/admin", "button": evil,
            "cancel": "/admin", "secret": evil, "app": {"name": evil}, "api": {"name": evil},
            "user": {"username": evil},
        });
        let partial = [
            "admin/layout.html",
            "admin/events.html",
            "admin/grant_rows.html",
        ];
        for (name, _) in TEMPLATES.iter().filter(|(n, _)| !partial.contains(n)) {
            let html = env
                .get_template(name)
                .unwrap()
                .render(&ctx)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert!(!html.contains("<script>"), "{name} escapes");
        }
    }
}
