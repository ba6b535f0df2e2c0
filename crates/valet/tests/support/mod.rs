//! What the `valet` binary's test suites share: running the binary in a folder of its
//! own, waiting for it to serve, and a minimal HTTP client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn valet(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_valet"));
    c.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("VALET_") {
            c.env_remove(k);
        }
    }
    c
}

pub fn run(dir: &Path, args: &[&str]) -> Output {
    let out = valet(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "valet {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A minimal HTTP/1.1 POST; returns (status, body).
pub fn post(port: u16, path: &str, basic: (&str, &str), body: &str) -> (u16, String) {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", basic.0, basic.1));
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub fn wait_for_port(log: &Path) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let f = std::fs::File::open(log).unwrap();
        for line in BufReader::new(f).lines().map_while(Result::ok) {
            if let Some((_, rest)) = line.split_once("serving on http://127.0.0.1:") {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                return digits.parse().unwrap();
            }
        }
        assert!(
            Instant::now() < deadline,
            "valet did not start: {}",
            std::fs::read_to_string(log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn run_with_stdin(dir: &Path, args: &[&str], input: &str) -> Output {
    let mut child = valet(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Stops a `valet serve` the way an operator does (SIGTERM) and waits, bounded, for it to
/// exit with success. Unlike a SIGKILL this lets the process write its last log lines
/// (they go through a queue, `valet/src/logs.rs`), so a test may read them afterwards.
pub fn stop(child: &mut std::process::Child) {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "valet did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}
