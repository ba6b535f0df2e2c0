//! Issue 12, item 7: a log that cannot be written never costs a response, a 503 or a
//! shutdown (ARCHITECTURE invariant 6). The real binary with its standard error at
//! `/dev/full`, on a pipe whose reader is gone, and on a pipe nobody reads.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::valet;

/// A port that was free a moment ago (the log cannot tell us which one Valet took).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request with bounded waits; the status, or why there was none.
fn request(port: u16, raw: &str) -> Result<u16, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(raw.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)
        .map_err(|e| format!("no answer: {e}"))?;
    let text = String::from_utf8_lossy(&resp);
    text.get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("the connection closed without an answer: {text:?}"))
}

fn ready(port: u16) -> Result<u16, String> {
    request(
        port,
        "GET /health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
}

/// A failed client authentication: answered 401, and logged at info (`valet::audit`).
fn failed_authentication(port: u16, i: usize) -> Result<u16, String> {
    let body = format!("grant_type=client_credentials&client_id=nobody-{i}&client_secret=wrong");
    request(
        port,
        &format!(
            "POST /oauth2/token HTTP/1.1\r\nHost: localhost\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn start(dir: &std::path::Path, port: u16, stderr: Stdio) -> Child {
    valet(dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("VALET_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

fn wait_ready(child: &mut Child, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("valet exited before serving: {status}");
        }
        if ready(port) == Ok(200) {
            return;
        }
        assert!(Instant::now() < deadline, "valet never became ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGTERM, then the process must be gone promptly, with success.
fn stops_on_sigterm(child: &mut Child) {
    let sent = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            return;
        }
        if sent.elapsed() > Duration::from_secs(8) {
            let _ = child.kill();
            panic!("SIGTERM was ignored");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Failed client authentications (each logs a line at info): all answered 401. Fewer
/// than the throttle's 100 per address, which would answer 429.
fn serves_despite_the_log(port: u16, requests: usize) {
    for i in 0..requests {
        assert_eq!(failed_authentication(port, i), Ok(401), "request {i}");
    }
    assert_eq!(ready(port), Ok(200));
}

/// A token for `id` (logged at debug): answered 200.
fn token(port: u16, id: &str, secret: &str) -> Result<u16, String> {
    let body = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    request(
        port,
        &format!(
            "POST /oauth2/token HTTP/1.1\r\nHost: localhost\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn stderr_at_dev_full_still_starts_serves_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let port = free_port();
    // A fresh folder: the master key is created, and its backup note cannot be written.
    let mut child = start(dir.path(), port, Stdio::from(full));
    wait_ready(&mut child, port);
    serves_despite_the_log(port, 20);
    stops_on_sigterm(&mut child);
    assert!(dir.path().join("valet.master-key").exists());
}

#[test]
fn a_stderr_pipe_whose_reader_is_gone_costs_no_response_and_no_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = start(dir.path(), port, Stdio::piped());
    // Read until the server says it is serving, then the reader goes away (a log shipper
    // that died, a terminal that closed).
    let mut reader = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("Valet is serving") {
        line.clear();
        let n = std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        assert!(n > 0, "valet exited before serving");
    }
    drop(reader);
    wait_ready(&mut child, port);
    serves_despite_the_log(port, 50);
    stops_on_sigterm(&mut child);
}

#[test]
fn a_stderr_nobody_reads_costs_no_response_and_no_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let created = crate::support::run(
        dir.path(),
        &[
            "client",
            "create",
            "--name",
            "svc",
            "--profile",
            "service",
            "--json",
        ],
    );
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let (id, secret) = (
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    );
    let port = free_port();
    let mut child = start(dir.path(), port, Stdio::piped());
    // Held open and never read: the pipe fills (64 KiB) after a few hundred lines.
    let reader = child.stderr.take();
    wait_ready(&mut child, port);
    for i in 0..600 {
        assert_eq!(token(port, id, secret), Ok(200), "request {i}");
    }
    serves_despite_the_log(port, 20);
    stops_on_sigterm(&mut child);
    drop(reader);
}
