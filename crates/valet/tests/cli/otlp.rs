//! Issue 21: `--otlp-endpoint` exports each request's span over OTLP/HTTP, continuing the
//! caller's W3C `traceparent`; the response's `traceparent` names Valet's span. The
//! collector here is a small HTTP receiver that keeps what it is sent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{stop, valet, wait_for_port};

type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// Accepts OTLP/HTTP POSTs, answering 200; keeps (path, content type, body) of each.
fn receiver() -> (u16, Received) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got: Received = Arc::default();
    let keep = got.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().map_while(Result::ok) {
            let keep = keep.clone();
            std::thread::spawn(move || serve(conn, &keep));
        }
    });
    (port, got)
}

fn serve(conn: TcpStream, keep: &Received) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split(' ').nth(1).unwrap_or("").to_owned();
        let (mut len, mut ctype) = (0usize, String::new());
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "content-type" => ctype = v.trim().to_owned(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        keep.lock().unwrap().push((path, ctype, body));
        let _ = w.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
        );
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_request_with_traceparent_is_exported_as_a_child_span_of_that_trace() {
    let (collector, got) = receiver();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log_path = d.join("serve.log");
    let mut child = valet(d)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--otlp-endpoint",
            &format!("http://127.0.0.1:{collector}"),
        ])
        .stderr(std::fs::File::create(&log_path).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let port = wait_for_port(&log_path);

    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET /health/live HTTP/1.1\r\nHost: localhost\r\ntraceparent: 00-{trace}-{parent}-01\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let back = resp
        .lines()
        .find_map(|l| l.strip_prefix("traceparent: "))
        .unwrap_or_else(|| panic!("no traceparent in {resp}"))
        .to_owned();
    let parts: Vec<&str> = back.split('-').collect();
    assert_eq!(parts[1], trace, "the caller's trace continues");
    assert_ne!(parts[2], parent, "Valet's own span");
    let span_id = parts[2].to_owned();

    // The batch exporter sends at latest on shutdown (SIGTERM flushes it).
    stop(&mut child);
    let deadline = Instant::now() + Duration::from_secs(15);
    let (want_trace, want_span, want_parent) = (hex(trace), hex(&span_id), hex(parent));
    loop {
        let found = got.lock().unwrap().iter().any(|(path, ctype, body)| {
            let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
            path == "/v1/traces"
                && ctype == "application/x-protobuf"
                && has(&want_trace)
                && has(&want_span)
                && has(&want_parent)
        });
        if found {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no span of trace {trace} reached the collector ({} posts); log: {}",
            got.lock().unwrap().len(),
            std::fs::read_to_string(&log_path).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
