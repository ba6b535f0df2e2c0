//! Issue 13's registration contract: `--profile device` needs no redirect URI, and
//! `--grant G` adds to the profile's grants (it used to replace them).

use serde_json::{Value, json};

use crate::support::{run, stop, valet};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn created(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_device_application_needs_no_redirect_uri() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tv = created(&run(
        d,
        &[
            "client",
            "create",
            "--profile",
            "device",
            "--name",
            "TV",
            "--json",
        ],
    ));
    assert_eq!(tv["profile"], "device");
    assert_eq!(tv["grant_types"], json!([DEVICE_GRANT, "refresh_token"]));
    assert_eq!(tv["token_endpoint_auth_method"], "none");
    assert!(tv.get("client_secret").is_none(), "public: no secret");
    assert_eq!(tv["redirect_uris"], json!([]));
    // A redirect URI makes no sense for it.
    let out = valet(d)
        .args(["client", "create", "--profile", "device", "--name", "TV"])
        .args(["--redirect-uri", "https://app.example/cb"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no redirect URI"));
}

#[test]
fn grant_adds_to_the_profiles_grants() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let web = created(&run(
        d,
        &[
            "client",
            "create",
            "--profile",
            "web",
            "--name",
            "Kiosk",
            "--redirect-uri",
            "https://app.example/cb",
            "--grant",
            DEVICE_GRANT,
            "--json",
        ],
    ));
    assert_eq!(
        web["grant_types"],
        json!(["authorization_code", "refresh_token", DEVICE_GRANT])
    );
    assert!(web["client_secret"].is_string(), "still confidential");
    // Naming a grant the profile has already changes nothing.
    let svc = created(&run(
        d,
        &[
            "client",
            "create",
            "--profile",
            "service",
            "--name",
            "svc",
            "--grant",
            "client_credentials",
            "--grant",
            "password",
            "--json",
        ],
    ));
    assert_eq!(
        svc["grant_types"],
        json!(["client_credentials", "password"])
    );
}

#[test]
fn device_codes_and_user_codes_never_reach_the_log() {
    // Invariant 5: the binary at debug level; a device authorization and its polls.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let kiosk = created(&run(
        d,
        &[
            "client",
            "create",
            "--profile",
            "web",
            "--name",
            "Kiosk",
            "--redirect-uri",
            "https://app.example/cb",
            "--grant",
            DEVICE_GRANT,
            "--json",
        ],
    ));
    let id = kiosk["client_id"].as_str().unwrap().to_owned();
    let secret = kiosk["client_secret"].as_str().unwrap().to_owned();
    let log_path = d.join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = valet(d)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("VALET_LOG", "debug")
        .stderr(log)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let port = crate::support::wait_for_port(&log_path);
    let (status, body) = crate::support::post(
        port,
        "/oauth2/device_authorization",
        (&id, &secret),
        "scope=openid",
    );
    assert_eq!(status, 200, "{body}");
    let started: Value = serde_json::from_str(&body).unwrap();
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    let user_code = started["user_code"].as_str().unwrap().to_owned();
    for expected in ["slow_down", "slow_down"] {
        let (status, body) = crate::support::post(
            port,
            "/oauth2/token",
            (&id, &secret),
            &format!("grant_type={DEVICE_GRANT}&device_code={device_code}"),
        );
        assert_eq!(status, 400);
        assert!(body.contains(expected), "{body}");
    }
    stop(&mut child);
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("device authorization started"), "{logs}");
    for secret_text in [
        device_code.as_str(),
        user_code.as_str(),
        &user_code.replace('-', ""),
        secret.as_str(),
    ] {
        assert!(
            !logs.contains(secret_text),
            "{secret_text} in the log:\n{logs}"
        );
    }
}
