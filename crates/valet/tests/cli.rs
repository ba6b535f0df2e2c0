//! The `valet` binary as a user runs it: the README quickstart end to end, configuration
//! errors, key commands, graceful shutdown, and no secret in the logs (checklist N5).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{post, run, run_with_stdin, valet, wait_for_port};

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn quickstart_works_and_logs_hold_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run(
        d,
        &[
            "api",
            "create",
            "--audience",
            "https://api.example.com",
            "--scope",
            "reports.read=Read reports",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("reports.read"));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("BACK IT UP"),
        "first run announces the master key"
    );
    let out = run(
        d,
        &[
            "client",
            "create",
            "--name",
            "Nightly reports",
            "--profile",
            "service",
            "--scope",
            "reports.read",
            "--json",
        ],
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("BACK IT UP"),
        "only once"
    );
    assert!(d.join("valet.db").exists() && d.join("valet.master-key").exists());

    let log_path = d.join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = valet(d)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("VALET_LOG", "debug")
        .stderr(log)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let port = wait_for_port(&log_path);

    let (status, body) = post(
        port,
        "/oauth2/token",
        (&id, &secret),
        "grant_type=client_credentials",
    );
    assert_eq!(status, 200, "{body}");
    let token: Value = serde_json::from_str(&body).unwrap();
    let access = token["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token["scope"], "reports.read");
    let (_, intro) = post(
        port,
        "/oauth2/introspect",
        (&id, &secret),
        &format!("token={access}"),
    );
    assert!(intro.contains("\"active\":true"), "{intro}");
    let (status, _) = post(
        port,
        "/oauth2/revoke",
        (&id, &secret),
        &format!("token={access}"),
    );
    assert_eq!(status, 200);
    let (_, intro) = post(
        port,
        "/oauth2/introspect",
        (&id, &secret),
        &format!("token={access}"),
    );
    assert_eq!(intro, r#"{"active":false}"#);
    let (status, _) = post(
        port,
        "/oauth2/token",
        (&id, "wrong-secret-value"),
        "grant_type=client_credentials",
    );
    assert_eq!(status, 401);

    // SIGTERM: a graceful stop with exit status 0.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "valet did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());

    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("shutting down"), "{logs}");
    assert!(
        logs.contains("access token revoked"),
        "debug logs were captured"
    );
    for secret_thing in [secret.as_str(), access.as_str(), "wrong-secret-value"] {
        assert!(!logs.contains(secret_thing), "a secret reached the logs");
    }
    let key = std::fs::read_to_string(d.join("valet.master-key")).unwrap();
    assert!(!logs.contains(key.trim()));
}

#[test]
fn unknown_configuration_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("valet.toml"),
        "issuer = \"https://id.example\"\nlisten_port = 9000\n",
    )
    .unwrap();
    let out = valet(d)
        .args(["--config", "valet.toml", "client", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen_port"));

    let out = valet(d)
        .args(["client", "list"])
        .env("VALET_ISUER", "https://x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("VALET_ISUER"));

    let out = valet(d)
        .args(["client", "list"])
        .env("VALET_ACCESS_TOKEN_TTL", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("access_token_ttl"));
}

#[test]
fn environment_and_file_settings_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("valet.toml"),
        "database = \"sqlite://from-file.db\"\n",
    )
    .unwrap();
    run(d, &["--config", "valet.toml", "client", "list"]);
    assert!(d.join("from-file.db").exists());
    let out = valet(d)
        .args(["--config", "valet.toml", "client", "list"])
        .env("VALET_DATABASE", "sqlite://from-env.db")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(d.join("from-env.db").exists(), "env overrides the file");
    run(
        d,
        &[
            "--config",
            "valet.toml",
            "--database",
            "sqlite://from-flag.db",
            "client",
            "list",
        ],
    );
    assert!(d.join("from-flag.db").exists(), "flags override everything");
}

#[test]
fn keys_rotate_then_list() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let before: Value =
        serde_json::from_slice(&run(d, &["keys", "list", "--json"]).stdout).unwrap();
    assert_eq!(before.as_array().unwrap().len(), 2);
    assert!(
        before
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["state"] == "signing")
    );
    let out = run(d, &["keys", "rotate", "--alg", "ES256"]);
    // Ten minutes from the rotation, which a second's tick may show as 9m.
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("signs from in 10m") || said.contains("signs from in 9m"),
        "{said}"
    );
    let after: Value = serde_json::from_slice(&run(d, &["keys", "list", "--json"]).stdout).unwrap();
    let states: Vec<&str> = after
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states
            .iter()
            .filter(|s| **s == "published, signs later")
            .count(),
        1
    );
    assert_eq!(states.iter().filter(|s| **s == "signing").count(), 2);
    assert!(
        after
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["alg"] == "ES256" && k["publish_until"].is_i64())
    );

    // A wrong master key is a clear error, not garbage keys.
    let out = valet(d)
        .args(["keys", "list"])
        .env("VALET_MASTER_KEY", "ab".repeat(32))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("master key"));
}

#[test]
fn client_commands() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run(
        d,
        &[
            "client",
            "create",
            "--name",
            "Web",
            "--profile",
            "web",
            "--redirect-uri",
            "https://app.example/cb",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("client_secret:"));
    let id = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("client_id:"))
        .unwrap()
        .trim()
        .to_owned();
    let shown = String::from_utf8_lossy(&run(d, &["client", "show", &id]).stdout).into_owned();
    assert!(shown.contains("authorization_code refresh_token"));
    assert!(shown.contains("openid profile email"));
    let revoked = run(d, &["client", "revoke-grants", &id]);
    assert!(String::from_utf8_lossy(&revoked.stdout).contains("Revoked 0 grant(s)"));
    let rotated: Value =
        serde_json::from_slice(&run(d, &["client", "rotate-secret", &id, "--json"]).stdout)
            .unwrap();
    assert_eq!(rotated["client_secret"].as_str().unwrap().len(), 43);
    run(d, &["client", "delete", &id]);
    let out = valet(d).args(["client", "show", &id]).output().unwrap();
    assert!(!out.status.success());

    let out = valet(d)
        .args(["client", "create", "--name", "x", "--profile", "web"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--redirect-uri"));
    let out = valet(d)
        .args(["client", "create", "--name", "x", "--profile", "robot"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("web, spa, native, service"));
    let out = valet(d)
        .args([
            "client",
            "create",
            "--name",
            "x",
            "--profile",
            "service",
            "--scope",
            "nope",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("valet api create"));

    // The sign-in options of a user-facing application.
    let spa: Value = serde_json::from_slice(
        &run(
            d,
            &[
                "client",
                "create",
                "--name",
                "SPA",
                "--profile",
                "spa",
                "--redirect-uri",
                "https://spa.example/cb",
                "--post-logout-redirect-uri",
                "https://spa.example/bye",
                "--cors-origin",
                "https://other.example",
                "--json",
            ],
        )
        .stdout,
    )
    .unwrap();
    assert!(spa.get("client_secret").is_none(), "a public application");
    assert_eq!(
        spa["post_logout_redirect_uris"][0],
        "https://spa.example/bye"
    );
    assert_eq!(spa["cors_origins"][0], "https://other.example");
    let out = valet(d)
        .args([
            "client",
            "create",
            "--name",
            "x",
            "--profile",
            "spa",
            "--redirect-uri",
            "https://spa.example/cb",
            "--cors-origin",
            "https://other.example/path",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("CORS origin"));
}

#[test]
fn user_commands() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = [
        "user",
        "create",
        "--username",
        "alice",
        "--email",
        "alice@example.com",
        "--name",
        "Alice Liddell",
        "--password-stdin",
        "--json",
    ];
    let out = run_with_stdin(d, &args, "correct horse battery\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alice: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(alice["username"], "alice");
    assert_eq!(alice["email"], "alice@example.com");
    assert_eq!(alice["name"], "Alice Liddell");
    assert!(alice["sub"].as_str().unwrap().len() >= 22);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("correct horse"));

    // The password is stored as argon2id with the OWASP parameters, never in clear.
    let db = rusqlite::Connection::open(d.join("valet.db")).unwrap();
    let hash: String = db
        .query_row("SELECT password_hash FROM users", [], |r| r.get(0))
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );

    // Same name in another case, short password, bad e-mail, no --password-stdin.
    let out = run_with_stdin(
        d,
        &["user", "create", "--username", "ALICE", "--password-stdin"],
        "another long password\n",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = run_with_stdin(
        d,
        &["user", "create", "--username", "bob", "--password-stdin"],
        "short\n",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 8"));
    let out = run_with_stdin(
        d,
        &[
            "user",
            "create",
            "--username",
            "bob",
            "--email",
            "bob",
            "--password-stdin",
        ],
        "long enough pw\n",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an e-mail"));
    let out = valet(d)
        .args(["user", "create", "--username", "bob"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password-stdin"));

    let listed: Value =
        serde_json::from_slice(&run(d, &["user", "list", "--json"]).stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    run(d, &["user", "delete", "Alice"]);
    let listed: Value =
        serde_json::from_slice(&run(d, &["user", "list", "--json"]).stdout).unwrap();
    assert!(listed.as_array().unwrap().is_empty());
}

/// A minimal HTTP/1.1 request; returns (status, headers, body).
fn request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(head.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn hidden(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\"")).unwrap();
    let tag = &html[at..at + html[at..].find('>').unwrap()];
    tag.split("value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

fn cookie(headers: &[(String, String)], name: &str) -> String {
    headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .find_map(|(_, v)| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .unwrap()
}

#[test]
fn a_user_sign_in_leaves_no_secret_in_the_logs() {
    // Invariant 5 for the user flows: password, cookies, code and tokens stay out of the
    // debug logs.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let password = "correct horse battery staple";
    run_with_stdin(
        d,
        &["user", "create", "--username", "alice", "--password-stdin"],
        password,
    );
    let created: Value = serde_json::from_slice(
        &run(
            d,
            &[
                "client",
                "create",
                "--name",
                "Web",
                "--profile",
                "web",
                "--redirect-uri",
                "https://app.example/cb",
                "--json",
            ],
        )
        .stdout,
    )
    .unwrap();
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let log_path = d.join("serve.log");
    let mut child = valet(d)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("VALET_LOG", "debug")
        .stderr(std::fs::File::create(&log_path).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let port = wait_for_port(&log_path);

    let authorize = format!(
        "/oauth2/authorize?client_id={id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb\
         &response_type=code&scope=openid+offline_access&state=s1"
    );
    let (status, headers, login) = request(port, "GET", &authorize, &[], "");
    assert_eq!(status, 200);
    let csrf_cookie = cookie(&headers, "valet-csrf");
    let form = format!(
        "username=alice&password={}&csrf={}&interaction={}",
        password.replace(' ', "+"),
        hidden(&login, "csrf"),
        hidden(&login, "interaction")
    );
    let form_headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Cookie", &format!("valet-csrf={csrf_cookie}")),
    ];
    let (status, headers, consent) = request(port, "POST", "/login", &form_headers, &form);
    assert_eq!(status, 200, "{consent}");
    let session = cookie(&headers, "valet-session");
    let form = format!(
        "csrf={}&interaction={}&decision=allow",
        hidden(&consent, "csrf"),
        hidden(&consent, "interaction")
    );
    let both = format!("valet-csrf={csrf_cookie}; valet-session={session}");
    let (status, headers, _) = request(
        port,
        "POST",
        "/consent",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &both),
        ],
        &form,
    );
    assert_eq!(status, 303);
    let location = &headers.iter().find(|(k, _)| k == "location").unwrap().1;
    let code = location
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let (status, body) = post(
        port,
        "/oauth2/token",
        (&id, &secret),
        &format!(
            "grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
        ),
    );
    assert_eq!(status, 200, "{body}");
    let tokens: Value = serde_json::from_str(&body).unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, _) = post(
        port,
        "/oauth2/token",
        (&id, &secret),
        &format!("grant_type=refresh_token&refresh_token={refresh}"),
    );
    assert_eq!(status, 200);
    child.kill().unwrap();
    child.wait().unwrap();

    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("authorization code redeemed"),
        "debug logs were captured"
    );
    for secret_thing in [
        password,
        &secret,
        &csrf_cookie,
        &session,
        &code,
        &refresh,
        tokens["access_token"].as_str().unwrap(),
        tokens["id_token"].as_str().unwrap(),
    ] {
        assert!(!logs.contains(secret_thing), "a secret reached the logs");
    }
}

#[test]
fn a_directory_sign_in_leaves_no_secret_in_the_logs() {
    // Invariant 5 for LDAP user stores: neither the service account's password (read
    // from the environment variable the config names) nor the user's reaches the debug
    // logs, even when the directory fails; `[[user_stores]]` keys are checked by name.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let config = format!(
        "[[user_stores]]\nname = \"staff\"\ntype = \"ldap\"\nurl = \"ldap://127.0.0.1:{port}\"\n\
         base_dn = \"dc=example,dc=org\"\nbind_dn = \"cn=valet,dc=example,dc=org\"\n\
         bind_password_env = \"LDAP_SERVICE_PASSWORD\"\nconnect_timeout = 1\ntimeout = 1\n"
    );
    std::fs::write(d.join("bad.toml"), config.replace("base_dn", "basedn")).unwrap();
    let out = valet(d)
        .args(["--config", "bad.toml", "client", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("basedn"));

    std::fs::write(d.join("valet.toml"), config).unwrap();
    let created: Value = serde_json::from_slice(
        &run(
            d,
            &[
                "--config",
                "valet.toml",
                "client",
                "create",
                "--name",
                "Legacy",
                "--profile",
                "web",
                "--redirect-uri",
                "https://app.example/cb",
                "--grant",
                "password",
                "--json",
            ],
        )
        .stdout,
    )
    .unwrap();
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let service_password = "service-account-password-42";
    let user_password = "ada-user-password-1843";
    let log_path = d.join("serve.log");
    let mut child = valet(d)
        .args(["--config", "valet.toml", "serve", "--listen", "127.0.0.1:0"])
        .env("VALET_LOG", "debug")
        .env("LDAP_SERVICE_PASSWORD", service_password)
        .stderr(std::fs::File::create(&log_path).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let port = wait_for_port(&log_path);
    let (status, body) = post(
        port,
        "/oauth2/token",
        (&id, &secret),
        &format!("grant_type=password&username=ada&password={user_password}"),
    );
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("temporarily_unavailable"), "{body}");
    child.kill().unwrap();
    child.wait().unwrap();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("the directory is unavailable"),
        "debug logs were captured: {logs}"
    );
    for secret_thing in [service_password, user_password, &secret] {
        assert!(!logs.contains(secret_thing), "a secret reached the logs");
    }
}

#[test]
fn opaque_access_tokens_from_the_cli() {
    // Issue 6: `--access-token-format` on APIs and applications; an opaque token works
    // end to end and, like every token, never reaches the logs (checklist N5).
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bad = valet(d)
        .args(["api", "create", "--audience", "https://v.example"])
        .args(["--scope", "v.read=Read", "--access-token-format", "paper"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected one of: jwt, opaque"));
    let listed = run(d, &["api", "list", "--json"]);
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).trim(),
        "[]",
        "nothing created"
    );

    run(
        d,
        &[
            "api",
            "create",
            "--audience",
            "https://v.example",
            "--scope",
            "v.read=Read",
            "--access-token-format",
            "opaque",
        ],
    );
    let listed: Value = serde_json::from_slice(&run(d, &["api", "list", "--json"]).stdout).unwrap();
    assert_eq!(listed[0]["access_token_format"], "opaque");
    let out = run(
        d,
        &[
            "client",
            "create",
            "--name",
            "Vault sync",
            "--profile",
            "service",
            "--scope",
            "v.read",
            "--json",
        ],
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let out = run(
        d,
        &[
            "client",
            "create",
            "--name",
            "Opaque app",
            "--profile",
            "service",
            "--access-token-format",
            "opaque",
            "--json",
        ],
    );
    let other: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(other["access_token_format"], "opaque");
    let shown = run(d, &["client", "show", other["client_id"].as_str().unwrap()]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("access tokens: opaque"));

    let log_path = d.join("serve.log");
    let mut child = valet(d)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("VALET_LOG", "debug")
        .stderr(std::fs::File::create(&log_path).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let port = wait_for_port(&log_path);
    let (status, body) = post(
        port,
        "/oauth2/token",
        (&id, &secret),
        "grant_type=client_credentials",
    );
    assert_eq!(status, 200, "{body}");
    let token: Value = serde_json::from_str(&body).unwrap();
    let access = token["access_token"].as_str().unwrap().to_owned();
    assert!(
        access.starts_with("valet_at_") && !access.contains('.'),
        "{access}"
    );
    let introspect = |t: &str| {
        post(
            port,
            "/oauth2/introspect",
            (&id, &secret),
            &format!("token={t}"),
        )
        .1
    };
    assert!(introspect(&access).contains("\"active\":true"));
    let (status, _) = post(
        port,
        "/oauth2/revoke",
        (&id, &secret),
        &format!("token={access}"),
    );
    assert_eq!(status, 200);
    assert_eq!(introspect(&access), r#"{"active":false}"#);
    child.kill().unwrap();
    child.wait().unwrap();

    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("opaque access token revoked"), "{logs}");
    assert!(!logs.contains(&access[9..]), "a token reached the logs");
    assert!(!logs.contains(&secret));
}
