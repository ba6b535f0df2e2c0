//! The index of browser origins (issue 17, item 1): `is_web_origin` answers by key what
//! `Application::web_origins` says of the stored registrations, through every write of
//! one (create, update, delete; self-registration, its RFC 7592 update and delete, the
//! purge of an expired one).

use std::sync::Arc;
use valet_protocol::application::{Origin, Profile};
use valet_store::{ClientRecord, RegistrationRecord, Store};

use super::{client, token_hash};

fn web(id: &str, redirect_uris: &[&str], cors: &[&str]) -> ClientRecord {
    let mut c = client(id);
    c.app.profile = Profile::Web;
    c.app.redirect_uris = redirect_uris.iter().map(|u| (*u).to_owned()).collect();
    c.app.cors_origins = cors.iter().map(|u| (*u).to_owned()).collect();
    c
}

async fn known(s: &Arc<dyn Store>, origins: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for o in origins {
        if s.is_web_origin(o).await.unwrap() {
            out.push((*o).to_owned());
        }
    }
    out
}

const ALL: &[&str] = &[
    "https://a.example",
    "https://a.example:8443",
    "https://b.example",
    "https://spa.example",
    "https://shared.example",
    "http://127.0.0.1:8080",
    "https://dyn.example",
];

pub(crate) async fn web_origins(s: Arc<dyn Store>) {
    assert!(known(&s, ALL).await.is_empty());
    // The redirect URIs' origins (lowercased, with their port) and the CORS origins.
    let a = web(
        "a",
        &["https://A.example/cb", "https://a.example:8443/cb"],
        &["https://spa.example"],
    );
    s.create_client(&a).await.unwrap();
    s.create_client(&web("b", &["https://shared.example/cb"], &[]))
        .await
        .unwrap();
    assert_eq!(
        known(&s, ALL).await,
        [
            "https://a.example",
            "https://a.example:8443",
            "https://spa.example",
            "https://shared.example"
        ]
    );
    // Exact match, as the origins were: no path, no other case, no prefix.
    for near in [
        "https://a.example/",
        "HTTPS://a.example",
        "https://a.exampl",
    ] {
        assert!(!s.is_web_origin(near).await.unwrap(), "{near}");
    }

    // An update replaces the application's origins; one it keeps stays, and so does
    // another application's.
    let mut changed = web(
        "a",
        &["https://a.example/cb", "https://b.example/cb"],
        &["https://shared.example"],
    );
    changed.updated_at = 200;
    assert!(s.update_client(&changed).await.unwrap());
    assert_eq!(
        known(&s, ALL).await,
        [
            "https://a.example",
            "https://b.example",
            "https://shared.example"
        ]
    );
    // An update of no application changes nothing.
    assert!(
        !s.update_client(&web("ghost", &["https://dyn.example/cb"], &[]))
            .await
            .unwrap()
    );
    assert!(!s.is_web_origin("https://dyn.example").await.unwrap());
    // Rotating a secret leaves the origins alone.
    assert!(
        s.rotate_client_secret("a", &valet_store::SecretHash(vec![2; 32]), None, 300)
            .await
            .unwrap()
    );
    assert!(s.is_web_origin("https://b.example").await.unwrap());

    // A deleted application's origins go, but one another application still has.
    assert!(s.delete_client("a").await.unwrap());
    assert_eq!(known(&s, ALL).await, ["https://shared.example"]);
    assert!(s.delete_client("b").await.unwrap());
    assert!(known(&s, ALL).await.is_empty());
}

fn dynamic(id: &str, redirect: &str) -> (ClientRecord, RegistrationRecord) {
    let mut c = web(id, &[redirect], &[]);
    c.app.registration.origin = Origin::Dynamic;
    let reg = RegistrationRecord {
        client_id: id.into(),
        token_hash: token_hash(1),
        fingerprint: None,
        created_at: 100,
        dedupe_until: 200,
        last_used_at: None,
        expires_at: 1000,
    };
    (c, reg)
}

pub(crate) async fn web_origins_of_self_registered(s: Arc<dyn Store>) {
    let (c, reg) = dynamic("d1", "http://127.0.0.1:8080/cb");
    s.register_client(&c, &reg, None, 100).await.unwrap();
    assert_eq!(known(&s, ALL).await, ["http://127.0.0.1:8080"]);
    // RFC 7592: an update with the current token moves the origins; a wrong one does not.
    let (moved, _) = dynamic("d1", "https://dyn.example/cb");
    assert!(
        !s.update_registered_client(&moved, &token_hash(9), &token_hash(2))
            .await
            .unwrap()
    );
    assert_eq!(known(&s, ALL).await, ["http://127.0.0.1:8080"]);
    assert!(
        s.update_registered_client(&moved, &token_hash(1), &token_hash(2))
            .await
            .unwrap()
    );
    assert_eq!(known(&s, ALL).await, ["https://dyn.example"]);
    assert!(
        s.delete_registered_client("d1", &token_hash(2))
            .await
            .unwrap()
    );
    assert!(known(&s, ALL).await.is_empty());

    // One unused past its expiry is purged, its origins with it.
    let (c, reg) = dynamic("d2", "https://dyn.example/cb");
    s.register_client(&c, &reg, None, 100).await.unwrap();
    assert!(s.is_web_origin("https://dyn.example").await.unwrap());
    s.purge_expired(2000, 100).await.unwrap();
    assert!(s.client("d2").await.unwrap().is_none());
    assert!(!s.is_web_origin("https://dyn.example").await.unwrap());
}
