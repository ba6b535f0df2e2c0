//! Database trouble (issue 4, item 5): a node over PostgreSQL whose connection goes through
//! a proxy the test controls. With the database stalled or unreachable, APIs answer 503
//! JSON with `Retry-After`, browsers a 503 page, introspection fails closed, readiness
//! reports it; when the database returns, service resumes by itself.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use valet_store::postgres::testdb::TestDatabase;

use crate::harness::spawn_with;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Link {
    Up,
    /// Connections stay open but nothing goes through (a stalled server or network).
    Stalled,
    /// Every connection is cut and new ones are closed at once (the server is gone).
    Down,
}

/// A TCP proxy to `target` whose link the test switches.
struct Proxy {
    port: u16,
    link: watch::Sender<Link>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (link, watcher) = watch::channel(Link::Up);
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let mut watcher = watcher.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    if *watcher.borrow() == Link::Down {
                        return; // dropped: the client sees the connection closed
                    }
                    let Ok(server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    pipe(client, server, &mut watcher).await;
                });
            }
        });
        Self { port, link }
    }

    fn set(&self, link: Link) {
        self.link.send_replace(link);
    }
}

/// Copies both ways while the link is up; holds everything while stalled; cuts both
/// sides when it goes down.
async fn pipe(client: TcpStream, server: TcpStream, link: &mut watch::Receiver<Link>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let (mut up, mut down) = ([0u8; 8192], [0u8; 8192]);
    loop {
        let state = *link.borrow_and_update();
        match state {
            Link::Down => return,
            Link::Stalled => {
                if link.changed().await.is_err() {
                    return;
                }
            }
            Link::Up => {
                use tokio::io::AsyncReadExt;
                tokio::select! {
                    n = cr.read(&mut up) => match n {
                        Ok(n) if n > 0 => if sw.write_all(&up[..n]).await.is_err() { return },
                        _ => return,
                    },
                    n = sr.read(&mut down) => match n {
                        Ok(n) if n > 0 => if cw.write_all(&down[..n]).await.is_err() { return },
                        _ => return,
                    },
                    changed = link.changed() => if changed.is_err() { return },
                }
            }
        }
    }
}

/// `url` (postgres://user@host:port/db) with its host and port replaced by the proxy's.
fn through(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let user = authority.split_once('@').map(|(u, _)| format!("{u}@"));
    format!(
        "{scheme}://{}127.0.0.1:{port}/{path}",
        user.unwrap_or_default()
    )
}

fn upstream(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split_once('/').unwrap().0;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set VALET_TEST_POSTGRES"
)]
async fn database_trouble_answers_503_and_service_resumes_by_itself() {
    let db = TestDatabase::create().await.unwrap();
    let proxy = Arc::new(Proxy::start(upstream(&db.url)).await);
    let url = through(&db.url, proxy.port);
    let app = spawn_with(|p| valet_server::config::Partial {
        database: Some(url),
        database_timeout: Some(1),
        ..p
    })
    .await;
    let (id, secret) = app.service(&[]).await;
    let token = app.token(&id, &secret).await;
    let web = app.web_client().await.0;

    let ready = || async { app.http.get(app.url("/health/ready")).send().await.unwrap() };
    let token_request = || async {
        app.http
            .post(app.url("/oauth2/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
    };
    let introspect = || async {
        app.http
            .post(app.url("/oauth2/introspect"))
            .basic_auth(&id, Some(&secret))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap()
    };
    let revoke = || async {
        app.http
            .post(app.url("/oauth2/revoke"))
            .basic_auth(&id, Some(&secret))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap()
    };
    let authorize = || async {
        app.http
            .get(app.url("/oauth2/authorize"))
            .query(&[
                ("client_id", web.as_str()),
                ("redirect_uri", "https://app.example/cb"),
                ("response_type", "code"),
                ("scope", "openid"),
                (
                    "code_challenge",
                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                ),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .unwrap()
    };
    assert_eq!(ready().await.status(), 200);
    assert_eq!(authorize().await.status(), 200, "the login page");

    for trouble in [Link::Stalled, Link::Down] {
        proxy.set(trouble);
        let started = Instant::now();
        for (what, r) in [
            ("token", token_request().await),
            ("introspection", introspect().await),
            ("revocation", revoke().await),
            ("readiness", ready().await),
        ] {
            assert_eq!(r.status(), 503, "{what} with the database {trouble:?}");
            assert!(r.headers().contains_key("retry-after"), "{what}");
            let body: serde_json::Value = r.json().await.unwrap();
            assert_ne!(body["active"], true, "introspection fails closed");
        }
        let page = authorize().await;
        assert_eq!(
            page.status(),
            503,
            "authorize with the database {trouble:?}"
        );
        assert!(page.headers().contains_key("retry-after"));
        assert!(
            page.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        // Five requests, each bounded by database_timeout (1 s) plus the pool's wait.
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "503s took {:?}",
            started.elapsed()
        );

        proxy.set(Link::Up);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if ready().await.status() == 200 && token_request().await.status() == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "no recovery after {trouble:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let r = introspect().await;
        assert_eq!(r.status(), 200);
    }
}

#[test]
fn proxy_urls() {
    assert_eq!(
        through("postgres://postgres@127.0.0.1:5432/valet_x", 7000),
        "postgres://postgres@127.0.0.1:7000/valet_x"
    );
    assert_eq!(
        upstream("postgres://postgres@127.0.0.1:5432/v"),
        "127.0.0.1:5432"
    );
    assert_eq!(upstream("postgres://db/v"), "db:5432");
}
