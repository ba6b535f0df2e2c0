//! Issue 21 from the command line: `valet explain`, `valet doctor`, and the flow advisor
//! of `valet client create` without `--profile`.

use serde_json::Value;

use crate::support::{run, valet};

#[test]
fn explain_reads_a_token_from_standard_input_and_says_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = crate::support::run_with_stdin(d, &["explain", "-", "--json"], "not-a-token\n");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "unknown", "{v}");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("not a token this server knows")
    );

    let out = valet(d)
        .args(["explain", "--request", "no-such-request"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no refused request no-such-request is kept"),
        "{err}"
    );

    // Neither a token nor --request: clap's usage error.
    let out = valet(d).args(["explain"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn doctor_names_each_weakness_on_its_own_line_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(
        d,
        &[
            "client",
            "create",
            "--name",
            "Legacy",
            "--profile",
            "web",
            "--redirect-uri",
            "https://legacy.example/cb",
            "--grant",
            "password",
            "--allow-plain-pkce",
        ],
    );
    // No server runs at the issuer, and the issuer is not HTTPS.
    let out = valet(d)
        .args(["--issuer", "http://id.invalid", "doctor"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let weak: Vec<&str> = text.lines().filter(|l| l.starts_with("WEAK")).collect();
    assert!(weak.iter().any(|l| l.contains("is not HTTPS")), "{text}");
    assert!(weak.iter().any(|l| l.contains("not reachable")), "{text}");
    assert!(
        weak.iter()
            .any(|l| l.contains("Legacy") && l.contains("password grant")),
        "{text}"
    );
    assert!(
        weak.iter()
            .any(|l| l.contains("Legacy") && l.contains("plain PKCE")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("ok") && l.contains("database"))
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("note") && l.contains("back it up"))
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("weakness(es) found"), "{err}");
}

#[test]
fn client_create_without_a_profile_explains_the_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Not a terminal (and --json): refused, every profile explained, nothing created.
    let out = valet(d)
        .args(["client", "create", "--name", "Mystery", "--json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for p in ["web", "spa", "native", "service", "device", "fapi2"] {
        assert!(
            err.lines().any(|l| l.trim_start().starts_with(p)),
            "{p}: {err}"
        );
    }
    let out = run(d, &["client", "list", "--json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 0, "nothing was created");
}

#[test]
fn export_plan_apply_from_the_command_line_with_plans_exit_codes() {
    let source = tempfile::tempdir().unwrap();
    let s = source.path();
    run(
        s,
        &[
            "api",
            "create",
            "--audience",
            "https://inv.example",
            "--scope",
            "inv.read=Read it",
        ],
    );
    run(
        s,
        &[
            "client",
            "create",
            "--name",
            "Sync",
            "--profile",
            "service",
            "--scope",
            "inv.read",
        ],
    );
    let out = run(s, &["export"]);
    let file = s.join("valet.toml");
    std::fs::write(&file, &out.stdout).unwrap();
    let file = file.to_str().unwrap();

    // The source says what the file says: exit 0.
    let out = valet(s).args(["plan", "-f", file]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("No changes"));

    // An empty database differs: the diff, and exit 2 (for CI).
    let target = tempfile::tempdir().unwrap();
    let t = target.path();
    let out = valet(t).args(["plan", "-f", file]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(diff.contains("+ application \"Sync\""), "{diff}");
    assert!(diff.contains("+ api https://inv.example"), "{diff}");

    let out = run(t, &["apply", "-f", file]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("client_secret"),
        "the new secret, shown once: {said}"
    );
    let out = valet(t).args(["plan", "-f", file]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let audit = run(t, &["audit", "--action", "client.create", "--json"]);
    assert!(
        String::from_utf8_lossy(&audit.stdout).contains("Sync"),
        "audited"
    );
}
