//! `valet migrate --to postgres://…`: a SQLite deployment moves to PostgreSQL with nothing
//! lost — applications and their secrets, users, APIs, signing keys, issued tokens,
//! revocations and refresh tokens all work on the other side.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use std::process::{Child, Stdio};
use support::{post, run, run_with_stdin, valet, wait_for_port};
use valet_store::postgres::testdb::TestDatabase;

struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(d: &std::path::Path, database: &str, log: &str) -> (Serving, u16) {
    let log_path = d.join(log);
    let child = valet(d)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let guard = Serving(child);
    let port = wait_for_port(&log_path);
    (guard, port)
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

fn jwks(port: u16) -> Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET /oauth2/jwks HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    json(r.split_once("\r\n\r\n").unwrap().1)
}

#[test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set VALET_TEST_POSTGRES"
)]
fn a_sqlite_deployment_moves_to_postgres_with_nothing_lost() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let target = runtime.block_on(TestDatabase::create()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sqlite = "sqlite://valet.db";

    // A deployment on SQLite: an API, a service, a user, a web app using the password grant.
    run(
        d,
        &[
            "--database",
            sqlite,
            "api",
            "create",
            "--audience",
            "https://api.example",
            "--scope",
            "api.read=Read",
        ],
    );
    let service = json(
        &String::from_utf8(
            run(
                d,
                &[
                    "--database",
                    sqlite,
                    "client",
                    "create",
                    "--name",
                    "svc",
                    "--profile",
                    "service",
                    "--scope",
                    "api.read",
                    "--json",
                ],
            )
            .stdout,
        )
        .unwrap(),
    );
    let (sid, ssecret) = (
        service["client_id"].as_str().unwrap().to_owned(),
        service["client_secret"].as_str().unwrap().to_owned(),
    );
    let out = run_with_stdin(
        d,
        &[
            "--database",
            sqlite,
            "user",
            "create",
            "--username",
            "ada",
            "--password-stdin",
        ],
        "correct horse battery\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let web = json(
        &String::from_utf8(
            run(
                d,
                &[
                    "--database",
                    sqlite,
                    "client",
                    "create",
                    "--name",
                    "legacy",
                    "--profile",
                    "web",
                    "--redirect-uri",
                    "https://app.example/cb",
                    "--grant",
                    "password",
                    "--grant",
                    "refresh_token",
                    "--json",
                ],
            )
            .stdout,
        )
        .unwrap(),
    );
    let (wid, wsecret) = (
        web["client_id"].as_str().unwrap().to_owned(),
        web["client_secret"].as_str().unwrap().to_owned(),
    );

    let (kept, revoked, refresh, kids) = {
        let (_node, port) = serve(d, sqlite, "sqlite.log");
        let token = |scope: &str| {
            let (status, body) = post(
                port,
                "/oauth2/token",
                (&sid, &ssecret),
                &format!("grant_type=client_credentials&scope={scope}"),
            );
            assert_eq!(status, 200, "{body}");
            json(&body)["access_token"].as_str().unwrap().to_owned()
        };
        let (kept, revoked) = (token("api.read"), token("api.read"));
        let (status, _) = post(
            port,
            "/oauth2/revoke",
            (&sid, &ssecret),
            &format!("token={revoked}"),
        );
        assert_eq!(status, 200);
        let (status, body) = post(
            port,
            "/oauth2/token",
            (&wid, &wsecret),
            "grant_type=password&username=ada&password=correct+horse+battery&scope=openid+offline_access",
        );
        assert_eq!(status, 200, "{body}");
        let refresh = json(&body)["refresh_token"].as_str().unwrap().to_owned();
        (kept, revoked, refresh, jwks(port))
    };

    // The move.
    let out = run(d, &["--database", sqlite, "migrate", "--to", &target.url]);
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(report.contains("copied"), "{report}");
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("clients") && l.trim_end().ends_with(" 2")),
        "{report}"
    );
    // A second copy into the same database is refused: nothing is duplicated or mixed.
    let again = valet(d)
        .args(["--database", sqlite, "migrate", "--to", &target.url])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds data"));

    // The same deployment on PostgreSQL (same folder: same master key file).
    let (_node, port) = serve(d, &target.url, "postgres.log");
    assert_eq!(jwks(port), kids, "the same signing keys are published");
    let introspect = |t: &str| {
        let (status, body) = post(
            port,
            "/oauth2/introspect",
            (&sid, &ssecret),
            &format!("token={t}"),
        );
        assert_eq!(status, 200, "{body}");
        json(&body)["active"].as_bool().unwrap()
    };
    assert!(introspect(&kept), "a token issued on SQLite is still valid");
    assert!(
        !introspect(&revoked),
        "a revocation made on SQLite still holds"
    );
    let (status, body) = post(
        port,
        "/oauth2/token",
        (&sid, &ssecret),
        "grant_type=client_credentials",
    );
    assert_eq!(status, 200, "the service's secret still works: {body}");
    let (status, body) = post(
        port,
        "/oauth2/token",
        (&wid, &wsecret),
        &format!("grant_type=refresh_token&refresh_token={refresh}"),
    );
    assert_eq!(
        status, 200,
        "a refresh token issued on SQLite refreshes: {body}"
    );
    let (status, body) = post(
        port,
        "/oauth2/token",
        (&wid, &wsecret),
        "grant_type=password&username=ADA&password=correct+horse+battery",
    );
    assert_eq!(status, 200, "the user signs in, name in any case: {body}");
}

/// `valet migrate` refuses while a server has the SQLite file open (its writes after the
/// copy would be lost), and a server that crashed leaves nothing behind that blocks it.
/// The refusal comes before any connection, so no PostgreSQL is needed: nothing listens
/// on port 1, and getting as far as connecting there shows the way was clear.
#[test]
fn migrate_refuses_while_a_server_runs_on_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let nowhere = "postgres://valet@127.0.0.1:1/valet";
    let migrate = || {
        let out = valet(d)
            .args(["--database-timeout", "1", "migrate", "--to", nowhere])
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    let (mut node, _port) = serve(d, "sqlite://valet.db", "serve.log");
    let refused = migrate();
    assert!(
        refused.contains("in use") && refused.contains("valet serve"),
        "{refused}"
    );
    assert!(refused.contains("nothing was copied"), "{refused}");
    // Admin commands still run beside the server.
    run(d, &["client", "list"]);

    // A crash (SIGKILL: no cleanup at all) releases the file.
    node.0.kill().unwrap();
    node.0.wait().unwrap();
    let next = migrate();
    assert!(
        next.contains("cannot open the PostgreSQL database"),
        "past the lock: {next}"
    );
}
