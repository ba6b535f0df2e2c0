//! Three nodes over one database, one issuer: what one node writes, every node honours.

use crate::browser::Authorized;
use crate::node::{Backend, Cluster, REDIRECT, kid, within};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NODES: usize = 3;

/// Three nodes whose refresh tokens all rotate, with alice and a trusted web application.
async fn cluster(backend: Backend, extra: &[(&str, &str)]) -> Cluster {
    let mut settings = vec![("VALET_REFRESH_TOKEN_ROTATION", "all")];
    settings.extend_from_slice(extra);
    let c = Cluster::start(backend, NODES, &settings).await;
    c.user("alice");
    c
}

fn web(c: &Cluster, trusted: bool) -> (String, String) {
    let mut args = vec![
        "--name",
        "Web",
        "--profile",
        "web",
        "--redirect-uri",
        REDIRECT,
    ];
    if trusted {
        args.push("--trusted");
    }
    c.client(&args)
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("no {k} in {v}"))
}

/// Code, consent and revocations written through node 0 are honoured by nodes 1 and 2.
async fn writes_are_seen_by_every_node(backend: Backend) {
    let c = cluster(backend, &[]).await;
    let app = web(&c, false);
    let other = web(&c, false);

    // Consent through A (node 0); the code it yields is redeemed at B (node 1).
    let (browser, page) = c.sign_in(0, &app.0, "alice").await;
    let Authorized::Consent { csrf, interaction } = page else {
        panic!("an untrusted application asks for consent first: {page:?}")
    };
    let code = c.try_allow(0, &browser, &csrf, &interaction).await.unwrap();
    let (status, tokens) = c.try_exchange(1, &app, &code).await.unwrap();
    assert_eq!(status, 200, "a code issued at A redeems at B: {tokens}");
    let (access, refresh) = (s(&tokens, "access_token"), s(&tokens, "refresh_token"));

    // The consent is the database's: B and C issue codes without asking again…
    for node in 1..NODES {
        let answer = c.try_authorize(node, &browser, &app.0).await.unwrap();
        assert!(
            matches!(answer, Authorized::Code(_)),
            "node {node}: {answer:?}"
        );
    }
    // …and only for the application it was given to (this check can fail).
    let answer = c.try_authorize(1, &browser, &other.0).await.unwrap();
    assert!(matches!(answer, Authorized::Consent { .. }), "{answer:?}");

    // RFC 7009 revocation at A; RFC 7662 introspection at B and C reads it at once.
    for node in 0..NODES {
        assert!(c.active(node, &app, access).await);
    }
    let (status, _) = c
        .post(0, "/oauth2/revoke", &app, &[("token", access)])
        .await;
    assert_eq!(status, 200);
    for node in 1..NODES {
        assert!(
            !c.active(node, &app, access).await,
            "node {node} still accepts it"
        );
    }

    // A refresh token revoked at A no longer refreshes at C (RFC 7009 §2.1).
    let (status, _) = c
        .post(0, "/oauth2/revoke", &app, &[("token", refresh)])
        .await;
    assert_eq!(status, 200);
    let (status, v) = c.try_refresh(2, &app, refresh).await.unwrap();
    assert_eq!((status, s(&v, "error")), (400, "invalid_grant"));

    // A code redeemed at B and replayed at A fails, and what it issued is revoked
    // (RFC 6749 §4.1.2) on every node.
    let code = c.code(1, &browser, &app.0).await;
    let (status, tokens) = c.try_exchange(1, &app, &code).await.unwrap();
    assert_eq!(status, 200, "{tokens}");
    let (status, v) = c.try_exchange(0, &app, &code).await.unwrap();
    assert_eq!((status, s(&v, "error")), (400, "invalid_grant"));
    assert!(!c.active(2, &app, s(&tokens, "access_token")).await);
}

/// `n` concurrent token requests with `form`, spread over the nodes round robin.
async fn race(
    c: &Arc<Cluster>,
    client: &(String, String),
    form: &[(&str, &str)],
    n: usize,
) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (c, client) = (c.clone(), client.clone());
            let form: Vec<(String, String)> = form
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            tokio::spawn(async move {
                let form: Vec<(&str, &str)> =
                    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                c.post(i % NODES, "/oauth2/token", &client, &form).await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// 50 redemptions of one code: one wins (RFC 6749 §4.1.2: a code is used once). 50
/// refreshes of one token within the retry window: one rotation, and every retry gets
/// that rotation's very answer.
async fn one_code_one_redemption_one_successor(backend: Backend) {
    let c = cluster(backend, &[]).await;
    let app = web(&c, true);
    let (browser, Authorized::Code(code)) = c.sign_in(0, &app.0, "alice").await else {
        panic!("a trusted application skips consent")
    };
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let c = Arc::new(c);
    let answers = race(&c, &app, &form, 50).await;
    let won: Vec<_> = answers.iter().filter(|(st, _)| *st == 200).collect();
    assert_eq!(won.len(), 1, "exactly one redemption: {answers:?}");
    for (st, v) in answers.iter().filter(|(st, _)| *st != 200) {
        assert_eq!((*st, s(v, "error")), (400, "invalid_grant"));
    }
    // The replays revoked what the winner got.
    assert!(!c.active(0, &app, s(&won[0].1, "access_token")).await);

    let code = c.code(1, &browser, &app.0).await;
    let (status, tokens) = c.try_exchange(2, &app, &code).await.unwrap();
    assert_eq!(status, 200);
    let old = s(&tokens, "refresh_token");
    let form = [("grant_type", "refresh_token"), ("refresh_token", old)];
    let answers = race(&c, &app, &form, 50).await;
    let successors: BTreeSet<&str> = answers
        .iter()
        .map(|(st, v)| {
            assert_eq!(*st, 200, "a retry within the window is answered: {v}");
            s(v, "refresh_token")
        })
        .collect();
    assert_eq!(
        successors.len(),
        1,
        "one family continues, with one successor"
    );
    let next = successors.into_iter().next().unwrap();
    assert_ne!(next, old);
    for node in 0..NODES {
        assert!(c.active(node, &app, s(&answers[0].1, "access_token")).await);
    }
    let (status, v) = c.try_refresh(1, &app, next).await.unwrap();
    assert_eq!(status, 200, "the successor refreshes: {v}");
}

/// With no retry window, of 50 concurrent refreshes one rotates; the other 49 are reuse of
/// a rotated token, which revokes the whole family (RFC 9700 §4.14.2).
async fn reuse_revokes_the_family(backend: Backend) {
    let c = cluster(backend, &[("VALET_REFRESH_RETRY_WINDOW", "0")]).await;
    let app = web(&c, true);
    let (_, Authorized::Code(code)) = c.sign_in(0, &app.0, "alice").await else {
        panic!("a trusted application skips consent")
    };
    let (status, tokens) = c.try_exchange(1, &app, &code).await.unwrap();
    assert_eq!(status, 200);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", s(&tokens, "refresh_token")),
    ];
    let c = Arc::new(c);
    let answers = race(&c, &app, &form, 50).await;
    let won: Vec<_> = answers.iter().filter(|(st, _)| *st == 200).collect();
    assert_eq!(won.len(), 1, "exactly one rotation: {answers:?}");
    let (status, v) = c
        .try_refresh(2, &app, s(&won[0].1, "refresh_token"))
        .await
        .unwrap();
    assert_eq!(
        (status, s(&v, "error")),
        (400, "invalid_grant"),
        "the family is revoked"
    );
    for node in 0..NODES {
        assert!(!c.active(node, &app, s(&won[0].1, "access_token")).await);
        assert!(!c.active(node, &app, s(&tokens, "access_token")).await);
    }
}

macro_rules! on_both {
    ($check:ident, $pg:ident, $lite:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        #[cfg_attr(
            not(postgres_tests),
            ignore = "needs PostgreSQL: set VALET_TEST_POSTGRES"
        )]
        async fn $pg() {
            $check(Backend::Postgres).await;
        }

        /// Several processes over one SQLite file (WAL) are supported too.
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $lite() {
            $check(Backend::Sqlite).await;
        }
    };
}

on_both!(
    writes_are_seen_by_every_node,
    postgres_writes_are_seen_by_every_node,
    sqlite_writes_are_seen_by_every_node
);
on_both!(
    one_code_one_redemption_one_successor,
    postgres_one_code_one_redemption_one_successor,
    sqlite_one_code_one_redemption_one_successor
);
on_both!(
    reuse_revokes_the_family,
    postgres_reuse_revokes_the_family,
    sqlite_reuse_revokes_the_family
);

/// The smallest settings allow: keys reloaded every second, JWKS not cached by clients,
/// a new key signing 1 s after it is published (`key_activation_delay ≥
/// key_refresh_interval + jwks_max_age`).
const KEY_REFRESH_INTERVAL: u64 = 1;

/// A key rotated with the CLI is in every node's JWKS within `key_refresh_interval` (+1 s
/// to reload), and no token is signed, on any node, by a key some node does not publish.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set VALET_TEST_POSTGRES"
)]
async fn a_rotated_key_is_published_everywhere_before_it_signs() {
    let interval = KEY_REFRESH_INTERVAL.to_string();
    let c = cluster(
        Backend::Postgres,
        &[
            ("VALET_KEY_REFRESH_INTERVAL", &interval),
            ("VALET_JWKS_MAX_AGE", "0"),
            ("VALET_KEY_ACTIVATION_DELAY", &interval),
        ],
    )
    .await;
    let service = c.client(&["--name", "Svc", "--profile", "service"]);
    let app = web(&c, true);
    let (browser, _) = c.sign_in(0, &app.0, "alice").await;
    let kids = |c: &Cluster| -> BTreeSet<String> {
        let v: Value = serde_json::from_str(&c.cli(&["keys", "list", "--json"], None)).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|k| s(k, "kid").to_owned())
            .collect()
    };
    let before = kids(&c);
    let c = Arc::new(c);
    let mut rotation = {
        let c = c.clone();
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(Duration::from_millis(500));
            c.cli(&["keys", "rotate"], None);
            Instant::now()
        })
    };

    let bound = Duration::from_secs(KEY_REFRESH_INTERVAL + 1);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut rotated_at = None;
    let mut published = [None; NODES];
    let mut signed_new = [false; NODES];
    let mut tokens = 0;
    let mut new_kids = BTreeSet::new();
    while signed_new.iter().any(|s| !s) {
        assert!(
            Instant::now() < deadline,
            "nodes never signed with the new keys"
        );
        if rotated_at.is_none() && rotation.is_finished() {
            rotated_at = Some((&mut rotation).await.unwrap());
            new_kids = kids(&c).difference(&before).cloned().collect();
            assert_eq!(
                new_kids.len(),
                4,
                "one new key per algorithm: ES256, RS256, PS256, EdDSA"
            );
        }
        for (node, signed) in signed_new.iter_mut().enumerate() {
            // An ES256 access token (client_credentials) and an RS256 ID token.
            let (status, v) = c
                .post(
                    node,
                    "/oauth2/token",
                    &service,
                    &[("grant_type", "client_credentials")],
                )
                .await;
            assert_eq!(status, 200);
            let code = c.code(node, &browser, &app.0).await;
            let (status, id) = c.try_exchange(node, &app, &code).await.unwrap();
            assert_eq!(status, 200);
            let used = [kid(s(&v, "access_token")), kid(s(&id, "id_token"))];
            tokens += 2;
            for (other, first_seen) in published.iter_mut().enumerate() {
                let published_there = c.jwks_kids(other).await;
                for k in &used {
                    assert!(
                        published_there.contains(k),
                        "node {node} signed with {k}, which node {other} does not publish yet"
                    );
                }
                if let Some(at) = rotated_at {
                    if first_seen.is_none() && new_kids.iter().all(|k| published_there.contains(k))
                    {
                        *first_seen = Some(at.elapsed());
                    }
                }
            }
            *signed = used.iter().all(|k| new_kids.contains(k));
        }
        if let Some(at) = rotated_at {
            for (node, p) in published.iter().enumerate() {
                assert!(
                    p.is_some() || at.elapsed() <= bound,
                    "node {node} did not publish within {bound:?}"
                );
            }
        }
    }
    println!("{tokens} tokens checked; new keys published after {published:?} (bound {bound:?})");
}

/// Per-node application caches: a deleted application and a replaced secret stop working
/// on every node within `cache_ttl` (+1 s to measure), and at once on the node that
/// changed them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set VALET_TEST_POSTGRES"
)]
async fn caches_go_stale_for_at_most_cache_ttl() {
    const CACHE_TTL: u64 = 2;
    let ttl = CACHE_TTL.to_string();
    let c = cluster(Backend::Postgres, &[("VALET_CACHE_TTL", &ttl)]).await;
    let bound = Duration::from_secs(CACHE_TTL + 1);
    let admin = c.client(&[
        "--name",
        "Admin",
        "--profile",
        "service",
        "--scope",
        "valet:admin",
    ]);
    let (status, v) = c
        .post(
            0,
            "/oauth2/token",
            &admin,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "valet:admin"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let bearer = s(&v, "access_token").to_owned();
    let admin_call = |m: reqwest::Method, path: &str| {
        c.http
            .request(m, c.nodes[0].url(&format!("/admin/api/clients/{path}")))
            .bearer_auth(&bearer)
    };
    let cc = |node: usize, client: (String, String)| {
        let c = &c;
        async move {
            c.post(
                node,
                "/oauth2/token",
                &client,
                &[("grant_type", "client_credentials")],
            )
            .await
            .0
        }
    };

    // Deleted through A: refused at A at once, at B and C within the bound.
    let gone = c.client(&["--name", "Gone", "--profile", "service"]);
    for node in 0..NODES {
        assert_eq!(
            cc(node, gone.clone()).await,
            200,
            "works before, and is cached"
        );
    }
    let r = admin_call(reqwest::Method::DELETE, &gone.0)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        cc(0, gone.clone()).await,
        401,
        "RFC 6749 §5.2 invalid_client"
    );
    for node in 1..NODES {
        let took = within(bound, "deleted application refused", || async {
            cc(node, gone.clone()).await == 401
        })
        .await;
        println!("node {node} refused the deleted application after {took:?}");
    }

    // A secret replaced through A without grace: the old one is refused everywhere within
    // the bound, and the new one accepted.
    let old = c.client(&["--name", "Rotated", "--profile", "service"]);
    for node in 0..NODES {
        assert_eq!(cc(node, old.clone()).await, 200);
    }
    let r = admin_call(reqwest::Method::POST, &format!("{}/secret", old.0))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let new = (old.0.clone(), s(&v, "client_secret").to_owned());
    assert_eq!(cc(0, old.clone()).await, 401);
    assert_eq!(cc(0, new.clone()).await, 200);
    for node in 1..NODES {
        let took = within(bound, "old secret refused", || async {
            cc(node, old.clone()).await == 401
        })
        .await;
        println!("node {node} refused the old secret after {took:?}");
        within(bound, "new secret accepted", || async {
            cc(node, new.clone()).await == 200
        })
        .await;
    }
}
