//! Applications' logos (issue 15): Valet fetches an application's `logo_uri` itself (from
//! a loopback HTTPS server here, with `dev_allow_loopback_metadata`), once per lifetime,
//! and the pages show it from Valet's own `/logo/…`; a logo too large, of the wrong type,
//! behind a redirect or unreachable is shown as the application's initial, and its
//! failure is remembered for a while. No page's CSP lets an image come from elsewhere.

use std::time::Duration;
use valet_protocol::application::Profile;
use valet_server::admin::NewClient;
use valet_server::config::Partial;

use crate::branding::PNG;
use crate::flow::{Browser, PASSWORD, Page, REDIRECT};
use crate::harness::{TestApp, spawn_with};
use crate::outside::Outside;

async fn valet(outside: &Outside) -> TestApp {
    let ca = outside.ca_file.clone();
    let app = spawn_with(move |p| Partial {
        dev_allow_loopback_metadata: Some(true),
        metadata_ca_file: Some(ca),
        ..p
    })
    .await;
    app.user("alice").await;
    app
}

async fn client_with_logo(app: &TestApp, name: &str, logo_uri: &str) -> String {
    app.client(NewClient {
        name: name.into(),
        profile: Some(Profile::Web),
        redirect_uris: vec![REDIRECT.into()],
        logo_uri: Some(logo_uri.into()),
        ..Default::default()
    })
    .await
    .0
}

/// The `src` of the page's application logo, if it shows one.
fn logo_src(p: &Page) -> Option<String> {
    let at = p.body.find("<img class=\"logo")?;
    let src = &p.body[at..];
    let start = src.find("src=\"")? + 5;
    let end = start + src[start..].find('"')?;
    Some(crate::flow::unescape(&src[start..end]))
}

/// The consent page of `id` for a fresh browser signed in as alice.
async fn consent_page(app: &TestApp, id: &str) -> (Browser, Page) {
    let b = app.browser();
    let login = b.get(&app.authorize_url(id, "")).await;
    let consent = b.login(app, &login, "alice", PASSWORD).await;
    assert!(consent.body.contains("value=\"allow\""), "{}", consent.body);
    (b, consent)
}

/// The login page of `id`, again until it shows the logo (the page waits for a logo
/// only so long; the fetch goes on behind it).
async fn login_with_logo(app: &TestApp, id: &str) -> (Page, String) {
    for _ in 0..100 {
        let p = app.browser().get(&app.authorize_url(id, "")).await;
        if let Some(src) = logo_src(&p) {
            return (p, src);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the logo never showed");
}

fn assert_own_images_only(p: &Page, outside: &Outside) {
    let csp = p.headers["content-security-policy"].to_str().unwrap();
    let img = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("img-src"))
        .unwrap();
    assert_eq!(img, "img-src 'self'", "{csp}");
    assert!(
        !p.body.contains(&format!("localhost:{}", outside.port)),
        "{}",
        p.body
    );
}

#[tokio::test]
async fn a_logo_is_fetched_once_and_served_by_valet() {
    let outside = Outside::start().await;
    outside.set("/logo.png", 200, &[("content-type", "image/png")], PNG);
    let app = valet(&outside).await;
    let id = client_with_logo(&app, "Photos", &outside.url("/logo.png")).await;

    let (login, src) = login_with_logo(&app, &id).await;
    assert!(src.starts_with(&format!("/logo/{id}?v=")), "{src}");
    assert_own_images_only(&login, &outside);
    let (b, consent) = consent_page(&app, &id).await;
    assert_eq!(logo_src(&consent).as_deref(), Some(src.as_str()));
    assert_own_images_only(&consent, &outside);
    b.consent(&app, &consent, "allow").await;
    let account = b.get(&app.url("/account")).await;
    assert_eq!(
        logo_src(&account).as_deref(),
        Some(src.as_str()),
        "{}",
        account.body
    );
    assert_own_images_only(&account, &outside);

    for _ in 0..3 {
        let r = app.http.get(app.url(&src)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/png");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        assert!(
            r.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age")
        );
        assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    }
    assert_eq!(outside.hits("/logo.png"), 1, "fetched once for every page");

    // Past its lifetime (an hour) on the node's clock, the next page fetches it again.
    app.clock.advance(3601);
    login_with_logo(&app, &id).await;
    assert_eq!(outside.hits("/logo.png"), 2);
}

#[tokio::test]
async fn a_logo_that_cannot_be_used_is_the_initial() {
    let outside = Outside::start().await;
    let mut big = PNG.to_vec();
    big.resize(100 * 1024 + 1, 0);
    outside.set("/big.png", 200, &[("content-type", "image/png")], big);
    outside.set(
        "/fake.png",
        200,
        &[("content-type", "image/png")],
        "<html><script>alert(1)</script></html>",
    );
    outside.set(
        "/logo.svg",
        200,
        &[("content-type", "image/svg+xml")],
        "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
    );
    outside.set(
        "/moved.png",
        302,
        &[("location", "https://localhost/logo.png")],
        "",
    );
    let app = valet(&outside).await;
    let cases = [
        ("Big", outside.url("/big.png"), "/big.png"),
        ("Fake", outside.url("/fake.png"), "/fake.png"),
        ("Scripted", outside.url("/logo.svg"), "/logo.svg"),
        ("Moved", outside.url("/moved.png"), "/moved.png"),
        ("Gone", outside.url("/missing.png"), "/missing.png"),
        // Nothing listens on port 1.
        ("Unreachable", "https://localhost:1/logo.png".to_owned(), ""),
    ];
    let mut fake = String::new();
    for (name, uri, path) in &cases {
        let id = client_with_logo(&app, name, uri).await;
        if *name == "Fake" {
            fake = id.clone();
        }
        let (_, consent) = consent_page(&app, &id).await;
        let initial = format!(
            "<span class=\"logo logo-fallback\" aria-hidden=\"true\">{}</span>",
            &name[..1]
        );
        assert!(consent.body.contains(&initial), "{name}: {}", consent.body);
        assert_eq!(logo_src(&consent), None, "{name}");
        assert_own_images_only(&consent, &outside);
        // The failure is remembered: more pages, and Valet's logo URL, ask nobody.
        if !path.is_empty() {
            for _ in 0..50 {
                if outside.hits(path) > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(outside.hits(path), 1, "{name}");
        }
        let r = app
            .http
            .get(app.url(&format!("/logo/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{name}");
        consent_page(&app, &id).await;
        if !path.is_empty() {
            assert_eq!(outside.hits(path), 1, "{name}: asked again");
        }
    }
    assert_eq!(outside.hits("/logo.png"), 0, "no redirect followed");

    // Fixed at its source, the logo shows once the failure is forgotten (five minutes).
    outside.set("/fake.png", 200, &[("content-type", "image/png")], PNG);
    app.clock.advance(301);
    login_with_logo(&app, &fake).await;
}

#[tokio::test]
async fn valet_serves_no_logo_it_would_not_show() {
    let outside = Outside::start().await;
    outside.set("/logo.png", 200, &[("content-type", "image/png")], PNG);
    let app = valet(&outside).await;
    let r = app.http.get(app.url("/logo/nobody")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let (id, _) = app.web_client().await;
    let r = app
        .http
        .get(app.url(&format!("/logo/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "an application without a logo");
    assert_eq!(outside.hits("/logo.png"), 0);
}
