//! Branding without forking (issue 15): with `brand_name` set, no page says "Valet" but
//! for the footer's "Powered by Valet", and with `powered_by = false` not even that; the
//! title carries the brand; the logo file and the colours are served by Valet itself
//! (the page CSP unchanged); a bad colour or logo file stops the node at startup, saying
//! which and why.

use valet_server::config::{Partial, Settings};
use valet_server::crypto::MasterKey;

use crate::flow::{PASSWORD, Page};
use crate::harness::{TestApp, spawn_with};

/// A 1×1 PNG (its signature is what Valet checks).
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0d, 0x49, 0x44, 0x41, 0x54,
    0x78, 0x9c, 0x63, 0x60, 0, 0, 0, 0, 2, 0, 1, 0xe5, 0x27, 0xde, 0xfc, 0, 0, 0, 0, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

async fn acme(powered_by: bool) -> TestApp {
    spawn_with(move |p| Partial {
        brand_name: Some("Acme".into()),
        brand_color: Some("#0a7".into()),
        powered_by: Some(powered_by),
        ..p
    })
    .await
}

/// Every kind of page a person can meet: sign-in, consent, an error, the account page,
/// sign-out and signed out, the device page, a page not found.
async fn every_page(app: &TestApp) -> Vec<(&'static str, Page)> {
    app.user("alice").await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    let mut pages = vec![("standalone login", b.get(&app.url("/login")).await)];
    let login = b.get(&app.authorize_url(&id, "")).await;
    let consent = b.login(app, &login, "alice", PASSWORD).await;
    assert!(consent.body.contains("value=\"allow\""), "{}", consent.body);
    pages.push(("login", login));
    pages.push(("consent", consent));
    let unknown = b
        .get(&app.url("/oauth2/authorize?client_id=nobody&response_type=code"))
        .await;
    assert_eq!(unknown.status, 400);
    pages.push(("unknown client", unknown));
    let wrong = b
        .post_form(&app.url("/login"), &[("csrf", "x"), ("username", "alice")])
        .await;
    pages.push(("bad sign-in form", wrong));
    let account = b.get(&app.url("/account")).await;
    assert_eq!(account.status, 200);
    let csrf = account.field("csrf").unwrap();
    pages.push(("account", account));
    pages.push(("device", b.get(&app.url("/device")).await));
    pages.push(("logout", b.get(&app.url("/oauth2/logout")).await));
    pages.push((
        "signed out",
        b.post_form(&app.url("/oauth2/logout"), &[("csrf", &csrf)])
            .await,
    ));
    let not_found = app
        .http
        .get(app.url("/nope"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    pages.push((
        "not found",
        Page {
            status: not_found.status().as_u16(),
            headers: not_found.headers().clone(),
            body: not_found.text().await.unwrap(),
        },
    ));
    pages
}

fn title(p: &Page) -> &str {
    let start = p.body.find("<title>").unwrap() + "<title>".len();
    let end = p.body.find("</title>").unwrap();
    &p.body[start..end]
}

#[tokio::test]
async fn with_a_brand_name_valet_is_only_the_powered_by_line() {
    let app = acme(true).await;
    let pages = every_page(&app).await;
    for (what, p) in &pages {
        assert!(title(p).ends_with("· Acme"), "{what}: {}", title(p));
        assert!(
            p.body.contains("<span class=\"brand-name\">Acme</span>"),
            "{what}"
        );
        assert!(p.body.contains("Powered by Valet"), "{what}");
        let rest = p.body.replace("Powered by Valet", "");
        assert!(!rest.contains("Valet"), "{what}: {rest}");
        assert!(
            crate::flow::unescape(&p.body).contains("/assets/brand.css?v="),
            "{what}"
        );
    }
    // The words the templates and messages use name the brand.
    let page = |name: &str| &pages.iter().find(|(w, _)| *w == name).unwrap().1;
    assert!(page("logout").body.contains("Sign out of Acme?"));
    assert!(page("signed out").body.contains("Your Acme session"));
    assert!(
        crate::flow::unescape(&page("unknown client").body).contains("registered with Acme"),
        "{}",
        page("unknown client").body
    );
}

#[tokio::test]
async fn with_powered_by_off_valet_is_nowhere() {
    let app = acme(false).await;
    for (what, p) in every_page(&app).await {
        assert!(!p.body.contains("Valet"), "{what}: {}", p.body);
        assert!(title(&p).contains("Acme"), "{what}");
    }
}

#[tokio::test]
async fn without_a_brand_the_pages_are_valets() {
    let app = spawn_with(|p| p).await;
    let p = app.browser().get(&app.url("/login")).await;
    assert_eq!(title(&p), "Sign in · Valet");
    assert!(p.body.contains("Secured by Valet"));
    assert!(!p.body.contains("Powered by"));
}

#[tokio::test]
async fn the_brand_colours_and_logo_are_served_by_valet() {
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("acme.png");
    std::fs::write(&logo, PNG).unwrap();
    let app = spawn_with(move |p| Partial {
        brand_name: Some("Acme".into()),
        brand_logo: Some(logo),
        brand_color: Some("#0a7".into()),
        brand_color_dark: Some("#5eead4".into()),
        ..p
    })
    .await;
    let page = app.browser().get(&app.url("/login")).await;
    let body = crate::flow::unescape(&page.body);
    let src = |prefix: &str| {
        let at = body.find(prefix).unwrap_or_else(|| panic!("{prefix}"));
        let end = at + body[at..].find('"').unwrap();
        body[at..end].to_owned()
    };
    let css = app
        .http
        .get(app.url(&src("/assets/brand.css")))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    let css = css.text().await.unwrap();
    assert!(css.contains("--accent: #00aa77;"), "{css}");
    assert!(css.contains("prefers-color-scheme: dark"), "{css}");
    assert!(css.contains("--accent: #5eead4;"), "{css}");

    let r = app
        .http
        .get(app.url(&src("/assets/brand-logo")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    // The page's own CSP is as strict as ever: no inline style, images from Valet only.
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("style-src 'self';"), "{csp}");
    assert!(csp.contains("img-src 'self';"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("https:"),
        "{csp}"
    );
}

#[tokio::test]
async fn an_svg_logo_is_served_under_a_csp_that_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("acme.svg");
    std::fs::write(
        &logo,
        "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 8 8\">\
         <style>rect{fill:#0a7}</style><rect width=\"8\" height=\"8\"/></svg>\n",
    )
    .unwrap();
    let app = spawn_with(move |p| Partial {
        brand_logo: Some(logo),
        ..p
    })
    .await;
    let r = app
        .http
        .get(app.url("/assets/brand-logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'none'; style-src 'unsafe-inline'"),
        "{csp}"
    );
    assert!(!csp.contains("script"), "{csp}");
}

/// What starting a node with `tweak` says, if it refuses.
async fn refused(tweak: impl FnOnce(Partial) -> Partial) -> String {
    let dir = tempfile::tempdir().unwrap();
    let partial = tweak(Partial {
        database: Some(format!("sqlite://{}", dir.path().join("v.db").display())),
        master_key_file: Some(dir.path().join("v.key")),
        ..Default::default()
    });
    let settings = match Settings::resolve(partial) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    match valet_server::Valet::build_on(settings, MasterKey::generate().unwrap(), listener).await {
        Ok(_) => panic!("the node started"),
        Err(e) => String::from(e),
    }
}

#[tokio::test]
async fn a_bad_colour_or_logo_file_stops_the_node_at_startup() {
    let e = refused(|p| Partial {
        brand_color: Some("teal".into()),
        ..p
    })
    .await;
    assert!(
        e.contains("brand_color `teal` is not a CSS hex colour"),
        "{e}"
    );
    let e = refused(|p| Partial {
        brand_color_dark: Some("#12".into()),
        ..p
    })
    .await;
    assert!(e.contains("brand_color_dark"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("logo.png");
    std::fs::write(&fake, "<html>not a picture</html>").unwrap();
    let e = refused(|p| Partial {
        brand_logo: Some(fake),
        ..p
    })
    .await;
    assert!(
        e.contains("logo.png") && e.contains("not a PNG, JPEG, GIF, WebP or SVG"),
        "{e}"
    );
    let big = dir.path().join("big.png");
    let mut bytes = PNG.to_vec();
    bytes.resize(300 * 1024, 0);
    std::fs::write(&big, bytes).unwrap();
    let e = refused(|p| Partial {
        brand_logo: Some(big),
        ..p
    })
    .await;
    assert!(e.contains("big.png is larger than 256 KB"), "{e}");
    let e = refused(|p| Partial {
        brand_logo: Some(dir.path().join("absent.png")),
        ..p
    })
    .await;
    assert!(
        e.contains("cannot read brand_logo") && e.contains("absent.png"),
        "{e}"
    );
}
