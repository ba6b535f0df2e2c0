//! Users signing in (database and directory) leave no secret in the logs.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;

use crate::support::{post, run, run_with_stdin, stop, valet, wait_for_port};

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
    stop(&mut child);

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
    stop(&mut child);
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("the directory is unavailable"),
        "debug logs were captured: {logs}"
    );
    for secret_thing in [service_password, user_password, &secret] {
        assert!(!logs.contains(secret_thing), "a secret reached the logs");
    }
}
