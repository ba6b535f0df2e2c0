//! Server-rendered pages: templates (minijinja, HTML autoescaped), their static assets,
//! and the headers every page carries (checklist C3, C4): a strict Content-Security-Policy
//! with `frame-ancestors 'none'`, `X-Frame-Options: DENY`, `no-store`. Templates get view
//! structs, never records. A folder given as `templates_dir` replaces built-ins by name.
//! Every template gets `issuer` and `brand` (`brand::BrandView`) beside its own values.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;
use std::path::Path;

use crate::brand::Brand;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("consent.html", include_str!("../templates/consent.html")),
    ("device.html", include_str!("../templates/device.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("account.html", include_str!("../templates/account.html")),
    ("logout.html", include_str!("../templates/logout.html")),
    (
        "second_factor.html",
        include_str!("../templates/second_factor.html"),
    ),
    (
        "recovery_codes.html",
        include_str!("../templates/recovery_codes.html"),
    ),
    (
        "logged_out.html",
        include_str!("../templates/logged_out.html"),
    ),
    (
        "form_post.html",
        include_str!("../templates/form_post.html"),
    ),
    ("password.html", include_str!("../templates/password.html")),
    ("email.html", include_str!("../templates/email.html")),
    ("signup.html", include_str!("../templates/signup.html")),
    // Messages (`mail/`): a text and an HTML part each; `.txt` is not HTML-escaped.
    (
        "mail/reset_password.txt",
        include_str!("../templates/mail/reset_password.txt"),
    ),
    (
        "mail/reset_password.html",
        include_str!("../templates/mail/reset_password.html"),
    ),
    (
        "mail/verify_email.txt",
        include_str!("../templates/mail/verify_email.txt"),
    ),
    (
        "mail/verify_email.html",
        include_str!("../templates/mail/verify_email.html"),
    ),
    (
        "mail/signup.txt",
        include_str!("../templates/mail/signup.txt"),
    ),
    (
        "mail/signup.html",
        include_str!("../templates/mail/signup.html"),
    ),
    (
        "mail/signup_exists.txt",
        include_str!("../templates/mail/signup_exists.txt"),
    ),
    (
        "mail/signup_exists.html",
        include_str!("../templates/mail/signup_exists.html"),
    ),
];

const CSS: &str = include_str!("../assets/valet.css");
const FORM_POST_JS: &str = include_str!("../assets/form_post.js");
const PASSKEY_JS: &str = include_str!("../assets/passkey.js");

/// No inline script or style anywhere, and every image is Valet's own: the brand logo and
/// applications' logos are served by Valet (`brand/`, `logos/`), never hot-linked.
/// `form-action` is left out on purpose: browsers apply it to the redirect that follows a
/// form post, which must reach the application's redirect URI.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                   script-src 'self'; base-uri 'none'; frame-ancestors 'none'";

pub struct Pages {
    env: Environment<'static>,
    issuer: String,
    brand: Brand,
}

impl Pages {
    /// Loads the built-in templates, each replaced by `dir/NAME` when that file exists.
    pub fn new(dir: Option<&Path>, issuer: &str, brand: Brand) -> Result<Self, String> {
        let mut env = Environment::new();
        for (name, builtin) in TEMPLATES.iter().chain(crate::routes::CONSOLE_TEMPLATES) {
            let source = match dir.map(|d| d.join(name)) {
                Some(path) if path.exists() => std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read template {}: {e}", path.display()))?,
                _ => (*builtin).to_owned(),
            };
            env.add_template_owned(*name, source)
                .map_err(|e| format!("template {name}: {e}"))?;
        }
        Ok(Self {
            env,
            issuer: issuer.to_owned(),
            brand,
        })
    }

    /// Every template gets `signup`: whether the login page offers "Create an account"
    /// (`self_registration`).
    pub fn offer_signup(mut self, on: bool) -> Self {
        self.env.add_global("signup", on);
        self
    }

    pub fn brand(&self) -> &Brand {
        &self.brand
    }

    /// The name pages and their messages give the service (`brand_name`, else Valet).
    pub fn brand_name(&self) -> &str {
        &self.brand.view().name
    }

    /// Renders `name` with `ctx` (plus `issuer` and `brand`) as a page with `status`.
    pub fn render(&self, status: StatusCode, name: &str, ctx: impl Serialize) -> Response {
        let ctx = minijinja::context! {
            issuer => &self.issuer,
            brand => self.brand.view(),
            ..minijinja::Value::from_serialize(&ctx)
        };
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => html_response(status, html),
            Err(e) => {
                tracing::error!(template = name, error = %e, "template failed to render");
                html_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "<!doctype html><title>Error</title><p>The page could not be shown.</p>".into(),
                )
            }
        }
    }

    /// The text and HTML parts of the message `mail/{name}.txt|.html` with `ctx` (plus
    /// `issuer` and `brand`).
    pub fn mail(
        &self,
        name: &str,
        ctx: impl Serialize,
    ) -> Result<(String, String), crate::error::ApiError> {
        let ctx = minijinja::context! {
            issuer => &self.issuer,
            brand => self.brand.view(),
            ..minijinja::Value::from_serialize(&ctx)
        };
        let part = |ext: &str| {
            self.env
                .get_template(&format!("mail/{name}.{ext}"))
                .and_then(|t| t.render(&ctx))
                .map_err(|e| {
                    tracing::error!(template = name, error = %e, "a message template failed");
                    crate::error::ApiError::invariant("a message template failed to render")
                })
        };
        Ok((part("txt")?, part("html")?))
    }

    /// An error page: what went wrong and what to do, never internals.
    pub fn error(
        &self,
        status: StatusCode,
        title: &str,
        message: &str,
        hint: Option<&str>,
    ) -> Response {
        #[derive(Serialize)]
        struct View<'a> {
            status: u16,
            title: &'a str,
            message: &'a str,
            hint: Option<&'a str>,
            request_id: Option<String>,
        }
        self.render(
            status,
            "error.html",
            View {
                status: status.as_u16(),
                title,
                message,
                hint,
                request_id: crate::request_id::current(),
            },
        )
    }
}

pub fn html_response(status: StatusCode, html: String) -> Response {
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// `GET /assets/{name}`: the stylesheet and the form_post script, cacheable for a day, and
/// the brand's stylesheet and logo.
pub async fn asset(
    axum::extract::State(state): axum::extract::State<crate::state::Shared>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    let (body, kind) = match name.as_str() {
        "valet.css" => (CSS, "text/css; charset=utf-8"),
        "form_post.js" => (FORM_POST_JS, "text/javascript; charset=utf-8"),
        "passkey.js" => (PASSKEY_JS, "text/javascript; charset=utf-8"),
        "brand.css" => return state.pages.brand.css(),
        "brand-logo" => return state.pages.brand.logo(),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_template_renders_and_escapes() {
        let pages = Pages::new(None, "https://valet.example", Brand::default()).unwrap();
        let evil = "<script>alert(1)</script>\"'";
        let ctx = serde_json::json!({
            "client": {"name": evil, "logo": "/logo/x?v=1"},
            "provenance": {"self_registered": true, "verified": false,
                           "redirect_host": evil, "client_host": evil},
            "user": {"display": evil, "username": evil},
            "scopes": [{"name": evil, "description": evil}],
            "grants": [], "csrf": evil, "interaction": evil, "return_to": evil,
            "error": evil, "username": evil, "title": evil, "message": evil, "status": 400,
            "redirect_uri": evil, "params": [[evil, evil]],
        });
        for (name, _) in TEMPLATES
            .iter()
            .filter(|(n, _)| *n != "base.html" && !n.starts_with("mail/"))
        {
            let r = pages.render(StatusCode::OK, name, &ctx);
            assert_eq!(r.status(), StatusCode::OK, "{name}");
            assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
            assert!(
                r.headers()[header::CONTENT_SECURITY_POLICY]
                    .to_str()
                    .unwrap()
                    .contains("frame-ancestors 'none'")
            );
        }
        let html = {
            let t = pages.env.get_template("login.html").unwrap();
            let ctx = minijinja::context! {
                brand => pages.brand.view(),
                ..minijinja::Value::from_serialize(&ctx)
            };
            t.render(ctx).unwrap()
        };
        assert!(!html.contains("<script>alert"), "output is escaped");
    }

    #[test]
    fn a_folder_overrides_templates_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("error.html"), "custom {{ title }}").unwrap();
        let pages = Pages::new(Some(dir.path()), "https://v", Brand::default()).unwrap();
        let html = pages
            .env
            .get_template("error.html")
            .unwrap()
            .render(minijinja::context! { title => "<x>" })
            .unwrap();
        assert_eq!(html, "custom &lt;x&gt;");
    }
}
