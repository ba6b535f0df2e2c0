//! Issue 14, the admin side: `valet registration token create`, and `valet client list
//! --origin`, `verify`, `quarantine`, `approve` for applications that registered
//! themselves over HTTP against a served node, and for a Client ID Metadata Document
//! client, which has no stored row until an admin decides something about it.

use serde_json::{Value, json};
use std::io::{Read, Write};

use crate::support::{run, stop, valet, wait_for_port};

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn listed(d: &std::path::Path, origin: &str) -> Vec<Value> {
    let out = run(d, &["client", "list", "--origin", origin, "--json"]);
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// `POST /oauth2/register` with a JSON body and, if given, an initial access token.
fn register(port: u16, body: &Value, token: Option<&str>) -> (u16, Value) {
    let body = body.to_string();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /oauth2/register HTTP/1.1\r\nHost: localhost\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    let json = resp
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

#[test]
fn a_registration_token_is_printed_and_registers_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let token = text(&run(d, &["registration", "token", "create", "--uses", "1"]));
    let token = token.trim().to_owned();
    assert!(token.starts_with("valet_iat_"), "{token}");
    assert_eq!(token.lines().count(), 1, "the token alone: {token}");
    let out = valet(d)
        .args(["registration", "token", "create", "--uses", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());

    let log_path = d.join("serve.log");
    let mut child = valet(d)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--registration",
            "token",
        ])
        .stderr(std::fs::File::create(&log_path).unwrap())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let port = wait_for_port(&log_path);
    let body = json!({
        "redirect_uris": ["http://localhost:3000/callback"],
        "token_endpoint_auth_method": "none",
        "application_type": "native",
        "client_name": "Agent",
    });
    assert_eq!(register(port, &body, None).0, 401, "token mode");
    let (status, reg) = register(port, &body, Some(&token));
    assert_eq!(status, 201, "{reg}");
    let mut other = body.clone();
    other["client_name"] = "Another agent".into();
    assert_eq!(register(port, &other, Some(&token)).0, 401, "used up");
    stop(&mut child);
    let dynamic = listed(d, "dynamic");
    assert_eq!(dynamic.len(), 1);
    assert_eq!(dynamic[0]["client_id"], reg["client_id"]);
}

#[test]
fn self_registered_applications_are_listed_verified_quarantined_and_approved() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(
        d,
        &[
            "client",
            "create",
            "--name",
            "Admin's",
            "--profile",
            "service",
        ],
    );
    let log_path = d.join("serve.log");
    let mut child = valet(d)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(std::fs::File::create(&log_path).unwrap())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let port = wait_for_port(&log_path);
    let (status, reg) = register(
        port,
        &json!({
            "redirect_uris": ["http://localhost:3000/callback"],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
            "client_name": "MCP Inspector",
        }),
        None,
    );
    assert_eq!(status, 201, "{reg}");
    let id = reg["client_id"].as_str().unwrap().to_owned();

    // While the node serves: the CLI and the node share the database.
    let dynamic = listed(d, "dynamic");
    assert_eq!(dynamic.len(), 1, "{dynamic:?}");
    assert_eq!(dynamic[0]["client_id"], id.as_str());
    assert_eq!(dynamic[0]["origin"], "dynamic");
    assert_eq!(dynamic[0]["verified"], false);
    assert_eq!(dynamic[0]["quarantined"], false);
    let admin = listed(d, "admin");
    assert_eq!(admin.len(), 1);
    assert_eq!(admin[0]["origin"], "admin");
    assert_eq!(admin[0]["verified"], false);
    let all = text(&run(d, &["client", "list"]));
    let line = |all: &str, id: &str| {
        all.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} not in {all}"))
            .to_owned()
    };
    let row = line(&all, &id);
    assert!(
        row.contains(" dynamic ") && row.contains("not verified") && row.contains("MCP Inspector"),
        "{row}"
    );
    assert!(
        all.lines()
            .any(|l| l.contains(" admin ") && l.contains("Admin's")),
        "{all}"
    );

    let out = text(&run(d, &["client", "verify", &id]));
    assert!(out.contains("verified"), "{out}");
    let row = line(
        &text(&run(d, &["client", "list", "--origin", "dynamic"])),
        &id,
    );
    assert!(
        row.contains(" verified ") && !row.contains("not verified"),
        "{row}"
    );

    run(d, &["client", "quarantine", &id]);
    let v = &listed(d, "dynamic")[0];
    assert_eq!(
        (v["verified"].clone(), v["quarantined"].clone()),
        (json!(true), json!(true))
    );
    let row = line(&text(&run(d, &["client", "list"])), &id);
    assert!(row.contains("verified, quarantined"), "{row}");

    let out = text(&run(d, &["client", "approve", &id]));
    assert!(out.contains("approved"), "{out}");
    assert_eq!(listed(d, "dynamic")[0]["quarantined"], false);
    stop(&mut child);

    // Unknown ids and admin registrations are refused, saying why.
    let out = valet(d)
        .args(["client", "verify", "nosuchclient"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no application"));
    let admin_id = admin[0]["client_id"].as_str().unwrap();
    let out = valet(d)
        .args(["client", "approve", admin_id])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("registered by an admin"));
}

#[test]
fn a_metadata_document_client_is_verified_by_its_url_without_a_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Nothing answers there: the CLI never fetches the document.
    let url = "https://agent.invalid/oauth/client.json";
    assert!(listed(d, "cimd").is_empty());
    let out = text(&run(d, &["client", "verify", url]));
    assert!(out.contains("verified"), "{out}");
    let cimd = listed(d, "cimd");
    assert_eq!(cimd.len(), 1, "{cimd:?}");
    let c = &cimd[0];
    assert_eq!(c["client_id"], url);
    assert_eq!(c["origin"], "cimd");
    assert_eq!(c["verified"], true);
    assert_eq!(c["quarantined"], false);
    assert_eq!(c["token_endpoint_auth_method"], "none");
    assert_eq!(c["redirect_uris"], json!([]));
    assert_eq!(c["trusted"], false);
    assert!(listed(d, "admin").is_empty());
    let row = text(&run(d, &["client", "list", "--origin", "cimd"]));
    assert!(
        row.starts_with(url) && row.contains(" cimd ") && row.contains(" verified "),
        "{row}"
    );

    // The same record takes the next decisions.
    run(d, &["client", "quarantine", url]);
    run(d, &["client", "approve", url]);
    let cimd = listed(d, "cimd");
    assert_eq!(cimd.len(), 1);
    assert_eq!(cimd[0]["verified"], true);
    assert_eq!(cimd[0]["quarantined"], false);

    // Quarantining one never seen before stores the override too.
    let other = "https://other.invalid/client.json";
    run(d, &["client", "quarantine", other]);
    let cimd = listed(d, "cimd");
    let o = cimd.iter().find(|c| c["client_id"] == other).unwrap();
    assert_eq!(
        (o["verified"].clone(), o["quarantined"].clone()),
        (json!(false), json!(true))
    );

    // A URL that cannot be a client_id is refused, and nothing is stored.
    let out = valet(d)
        .args(["client", "verify", "https://agent.invalid/client.json#x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(listed(d, "cimd").len(), 2);
}
