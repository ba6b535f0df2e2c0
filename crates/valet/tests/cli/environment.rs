//! Issue 12, item 17: Kubernetes injects service-link variables into every pod of a
//! namespace with a Service named `valet` (or `valet-…`). Valet recognises them exactly,
//! by name and value, and ignores them with one note; real typos are still refused.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{valet, wait_for_port};

/// What a pod sees for `Service valet` (port 8080, named `http`) and `Service valet-db`
/// (port 5432, unnamed), as https://kubernetes.io/docs/concepts/services-networking/service/#environment-variables
/// describes.
const SERVICE_LINKS: &[(&str, &str)] = &[
    ("VALET_SERVICE_HOST", "10.96.0.12"),
    ("VALET_SERVICE_PORT", "8080"),
    ("VALET_SERVICE_PORT_HTTP", "8080"),
    ("VALET_PORT", "tcp://10.96.0.12:8080"),
    ("VALET_PORT_8080_TCP", "tcp://10.96.0.12:8080"),
    ("VALET_PORT_8080_TCP_PROTO", "tcp"),
    ("VALET_PORT_8080_TCP_PORT", "8080"),
    ("VALET_PORT_8080_TCP_ADDR", "10.96.0.12"),
    ("VALET_DB_SERVICE_HOST", "fd00::5"),
    ("VALET_DB_SERVICE_PORT", "5432"),
    ("VALET_DB_PORT", "tcp://[fd00::5]:5432"),
    ("VALET_DB_PORT_5432_TCP", "tcp://[fd00::5]:5432"),
    ("VALET_DB_PORT_5432_TCP_PROTO", "tcp"),
    ("VALET_DB_PORT_5432_TCP_PORT", "5432"),
    ("VALET_DB_PORT_5432_TCP_ADDR", "fd00::5"),
    ("VALET_PORT_9090_UDP", "udp://10.96.0.12:9090"),
    ("VALET_PORT_9090_UDP_PROTO", "udp"),
];

#[test]
fn kubernetes_service_links_are_ignored_with_one_note() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log_path = d.join("serve.log");
    let mut child = valet(d)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .envs(SERVICE_LINKS.iter().copied())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let port = wait_for_port(&log_path);
    let (status, _) = crate::support::post(
        port,
        "/oauth2/token",
        ("x", "y"),
        "grant_type=client_credentials",
    );
    assert_eq!(status, 401, "serving");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "valet did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs = std::fs::read_to_string(&log_path).unwrap();
    let notes: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("Kubernetes service-link"))
        .collect();
    assert_eq!(notes.len(), 1, "one note, not one per variable: {logs}");
    assert!(
        notes[0].contains(&SERVICE_LINKS.len().to_string()),
        "{}",
        notes[0]
    );

    // An admin command too.
    let out = valet(d)
        .args(["client", "list"])
        .envs(SERVICE_LINKS.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn typos_and_look_alikes_are_still_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, value) in [
        ("VALET_ISSUR", "https://id.example"),
        // Named like a link, but not a link's value: someone meant a setting.
        ("VALET_PORT", "8080"),
        ("VALET_LISTEN_PORT", "9000"),
        ("VALET_SERVICE_HOST", "valet.example"),
        ("VALET_SERVICE_PORT", "http"),
        ("VALET_PORT_8080_TCP", "tcp://10.96.0.12:9090"),
        ("VALET_PORT_8080_TCP_PROTO", "udp"),
        ("VALET_PORT_8080_HTTP", "tcp://10.96.0.12:8080"),
        ("VALET__SERVICE_HOST", "10.96.0.12"),
    ] {
        let out = valet(d)
            .args(["client", "list"])
            .envs(SERVICE_LINKS.iter().copied())
            .env(name, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}={value} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(name), "{name}: {err}");
        assert!(
            !err.contains("VALET_SERVICE_PORT_HTTP"),
            "the links are not reported as unknown: {err}"
        );
    }
    let out = valet(d)
        .args(["client", "list"])
        .env("VALET_PORT", "8080")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("VALET_LISTEN"),
        "a hint to the listen setting"
    );
}
