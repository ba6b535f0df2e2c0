//! Issue 12, item 12: the RFC 8252 §7.3 loopback exception (any port at request time for
//! a loopback redirect URI registered without one) is for native applications only, and
//! "any port" means a TCP port, 1 to 65535, written canonically.

use valet_protocol::application::Profile;
use valet_server::admin::NewClient;

use crate::flow::Page;
use crate::harness::{TestApp, spawn_app};

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn request(app: &TestApp, client: &str, uri: &str) -> String {
    oauth2::url::Url::parse_with_params(
        &app.url("/oauth2/authorize"),
        [
            ("client_id", client),
            ("redirect_uri", uri),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "lb"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap()
    .to_string()
}

fn is_login_page(p: &Page) -> bool {
    p.status == 200 && p.body.contains("name=\"password\"")
}

/// The error page of an unverified redirect URI: 400, HTML, and no redirect.
fn assert_error_page(p: &Page, case: &str) {
    assert_eq!(p.status, 400, "{case}: {:?}", p.location());
    assert!(p.location().is_none(), "{case}: no Location header");
    assert!(
        p.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{case}"
    );
}

#[tokio::test]
async fn loopback_ports_are_tcp_ports_and_only_native_apps_get_any_port() {
    let app = spawn_app().await;
    let (native, _) = app
        .client(NewClient {
            name: "Desktop".into(),
            profile: Some(Profile::Native),
            redirect_uris: vec!["http://127.0.0.1/cb".into(), "http://[::1]/cb".into()],
            ..Default::default()
        })
        .await;
    let b = app.browser();
    for good in [
        "http://127.0.0.1:1/cb",
        "http://127.0.0.1:80/cb",
        "http://127.0.0.1:51234/cb",
        "http://127.0.0.1:65535/cb",
        "http://[::1]:8000/cb",
        "http://127.0.0.1/cb",
    ] {
        let p = b.get(&request(&app, &native, good)).await;
        assert!(is_login_page(&p), "{good}: {}", p.status);
    }
    for bad in [
        "http://127.0.0.1:0/cb",
        "http://127.0.0.1:65536/cb",
        "http://127.0.0.1:99999/cb",
        "http://127.0.0.1:00080/cb",
        "http://127.0.0.1:080/cb",
        "http://127.0.0.1:00000/cb",
        "http://[::1]:0/cb",
        "http://[::1]:065535/cb",
    ] {
        assert_error_page(&b.get(&request(&app, &native, bad)).await, bad);
    }

    // A web (or SPA) application registered with a loopback URI gets that URI exactly.
    for profile in [Profile::Web, Profile::Spa] {
        let (id, _) = app
            .client(NewClient {
                name: "Local dev".into(),
                profile: Some(profile),
                redirect_uris: vec!["http://127.0.0.1/cb".into()],
                ..Default::default()
            })
            .await;
        let exact = b.get(&request(&app, &id, "http://127.0.0.1/cb")).await;
        assert!(is_login_page(&exact), "{profile}: the registered URI");
        assert_error_page(
            &b.get(&request(&app, &id, "http://127.0.0.1:51234/cb"))
                .await,
            &format!("{profile} application, another port"),
        );
    }
}
