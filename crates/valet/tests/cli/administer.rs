//! Issue 15: the CLI face of administration — update commands, users disabled and given
//! roles, emergency key revocation, grants, and the audit trail as JSON lines.

use serde_json::Value;

use crate::support::{run, run_with_stdin, valet};

const PASSWORD: &str = "correct horse battery staple";

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every `valet audit --json` line, newest first.
fn audit(d: &std::path::Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["audit", "--json"];
    args.extend_from_slice(extra);
    let out = run(d, &args);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn client_update_changes_only_what_is_given_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let created = json(&run(
        d,
        &[
            "client",
            "create",
            "--name",
            "Shop",
            "--profile",
            "web",
            "--redirect-uri",
            "https://shop.example/cb",
            "--json",
        ],
    ));
    let id = created["client_id"].as_str().unwrap();
    let updated = json(&run(
        d,
        &[
            "client",
            "update",
            id,
            "--add-redirect-uri",
            "https://shop.example/cb2",
            "--remove-redirect-uri",
            "https://shop.example/cb",
            "--name",
            "Shop 2",
            "--trusted",
            "true",
            "--json",
        ],
    ));
    assert_eq!(
        updated["redirect_uris"],
        serde_json::json!(["https://shop.example/cb2"])
    );
    assert_eq!(updated["name"], "Shop 2");
    assert_eq!(updated["trusted"], true);
    assert_eq!(updated["profile"], "web", "the rest stays");

    // A bad value is refused by name and changes nothing.
    let out = valet(d)
        .args([
            "client",
            "update",
            id,
            "--redirect-uri",
            "http://shop.example/cb",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("redirect_uris"));
    let shown = json(&run(d, &["client", "show", id, "--json"]));
    assert_eq!(
        shown["redirect_uris"],
        serde_json::json!(["https://shop.example/cb2"])
    );

    let events = audit(d, &["--target", &format!("client:{id}")]);
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["client.update", "client.create"]);
    let e = &events[0];
    assert!(e["actor"].as_str().unwrap().starts_with("cli:"));
    assert!(e["at"].is_i64());
    assert_eq!(
        e["changes"]["trusted"],
        serde_json::json!({ "from": false, "to": true })
    );
    // The secret made at creation is never shown in the trail.
    let secret = created["client_secret"].as_str().unwrap();
    let all = String::from_utf8(run(d, &["audit", "--json"]).stdout).unwrap();
    assert!(!all.contains(secret));
    assert!(all.contains("[hidden]"));
}

#[test]
fn users_are_shown_updated_disabled_and_given_new_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_with_stdin(
        d,
        &["user", "create", "--username", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    let shown = json(&run(d, &["user", "show", "alice", "--json"]));
    assert_eq!(shown["role"], "none");
    assert_eq!(shown["disabled"], false);
    assert!(shown.get("password_hash").is_none());

    let updated = json(&run(
        d,
        &[
            "user", "update", "alice", "--role", "admin", "--name", "Alice A.", "--json",
        ],
    ));
    assert_eq!(updated["role"], "admin");
    assert_eq!(updated["name"], "Alice A.");
    let out = valet(d)
        .args(["user", "update", "alice", "--role", "root"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("admin, viewer or none"));

    run(d, &["user", "disable", "alice"]);
    assert_eq!(
        json(&run(d, &["user", "show", "alice", "--json"]))["disabled"],
        true
    );
    run(d, &["user", "enable", "alice"]);
    assert_eq!(
        json(&run(d, &["user", "show", "alice", "--json"]))["disabled"],
        false
    );

    // A weak password is refused; a good one is set and never appears in the trail.
    let out = {
        use std::io::Write;
        let mut child = valet(d)
            .args(["user", "set-password", "alice"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"short\n").unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(!out.status.success());
    let common = run_with_stdin(
        d,
        &["user", "set-password", "alice", "--password-stdin"],
        "iloveyou1\n",
    );
    assert!(!common.status.success());
    assert!(String::from_utf8_lossy(&common.stderr).contains("too common"));
    run_with_stdin(
        d,
        &["user", "set-password", "alice", "--password-stdin"],
        "a brand new long password\n",
    );
    let trail = String::from_utf8(run(d, &["audit", "--json"]).stdout).unwrap();
    assert!(!trail.contains("a brand new long password"));
    assert!(!trail.contains(PASSWORD));
    let actions: Vec<String> = audit(d, &["--action", "user."])
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        [
            "user.set_password",
            "user.enable",
            "user.disable",
            "user.update",
            "user.create"
        ]
    );
    run(d, &["user", "delete", "alice"]);
    let out = valet(d).args(["user", "show", "alice"]).output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn apis_are_updated_and_scopes_added_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let aud = "https://api.example";
    run(
        d,
        &["api", "create", "--audience", aud, "--scope", "a.read=Read"],
    );
    run(d, &["api", "scope", "add", aud, "a.write=Write things"]);
    run(
        d,
        &[
            "client",
            "create",
            "--name",
            "svc",
            "--profile",
            "service",
            "--scope",
            "a.write",
        ],
    );
    // Held by an application: refused unless forced.
    let out = valet(d)
        .args(["api", "scope", "remove", aud, "a.write"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--force")
            || String::from_utf8_lossy(&out.stderr).contains("force")
    );
    run(d, &["api", "scope", "remove", aud, "a.write", "--force"]);
    run(
        d,
        &[
            "api",
            "update",
            aud,
            "--name",
            "Example API",
            "--describe-scope",
            "a.read=Read it all",
        ],
    );
    let apis = json(&run(d, &["api", "list", "--json"]));
    assert_eq!(apis[0]["name"], "Example API");
    assert_eq!(
        apis[0]["scopes"],
        serde_json::json!([{ "name": "a.read", "description": "Read it all" }])
    );
    let svc = json(&run(d, &["client", "list", "--json"]));
    assert_eq!(svc[0]["scopes"], serde_json::json!([]));
}

#[test]
fn keys_revoke_unpublishes_and_replaces_the_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keys = json(&run(d, &["keys", "list", "--json"]));
    let es = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["alg"] == "ES256")
        .unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = run(d, &["keys", "revoke", &es]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("signs from now on"));
    let after = json(&run(d, &["keys", "list", "--json"]));
    let state = |kid: &str| {
        after
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .unwrap()["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(state(&es), "retired");
    assert!(
        after
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["alg"] == "ES256" && k["state"] == "signing")
    );
    let out = valet(d).args(["keys", "revoke", &es]).output().unwrap();
    assert!(!out.status.success(), "already retired");
    assert_eq!(audit(d, &["--action", "key.revoke"]).len(), 1);
}

#[test]
fn grants_list_is_empty_without_sign_ins_and_revoking_an_unknown_grant_fails() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run(d, &["grants", "list", "--json"]);
    assert_eq!(json(&out), serde_json::json!([]));
    let out = valet(d)
        .args(["grants", "revoke", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no grant"));
    let out = valet(d)
        .args(["audit", "--since", "yesterday"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since"));
}

/// Issue 17, item 3: whether a refresh brings a new ID token, per application: on by
/// default, `--id-token-on-refresh false` at creation, changed by `client update`, shown
/// by `client show` and its JSON.
#[test]
fn id_token_on_refresh_is_a_per_application_choice() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let create = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "client",
            "create",
            "--name",
            name,
            "--profile",
            "spa",
            "--redirect-uri",
            "https://spa.example/cb",
            "--json",
        ];
        args.extend_from_slice(extra);
        json(&run(d, &args))
    };
    assert_eq!(create("Default", &[])["id_token_on_refresh"], true);
    assert_eq!(
        create("Bare flag", &["--id-token-on-refresh"])["id_token_on_refresh"],
        true
    );
    let off = create("Off", &["--id-token-on-refresh", "false"]);
    assert_eq!(off["id_token_on_refresh"], false);
    let id = off["client_id"].as_str().unwrap().to_owned();
    let shown = String::from_utf8(run(d, &["client", "show", &id]).stdout).unwrap();
    assert!(shown.contains("on refresh:    no ID token"), "{shown}");

    let on = json(&run(
        d,
        &[
            "client",
            "update",
            &id,
            "--id-token-on-refresh",
            "true",
            "--json",
        ],
    ));
    assert_eq!(on["id_token_on_refresh"], true);
    // Another change leaves it as it is.
    let renamed = json(&run(
        d,
        &["client", "update", &id, "--name", "On", "--json"],
    ));
    assert_eq!(renamed["id_token_on_refresh"], true);
    let shown = json(&run(d, &["client", "show", &id, "--json"]));
    assert_eq!(shown["id_token_on_refresh"], true);
    let shown = String::from_utf8(run(d, &["client", "show", &id]).stdout).unwrap();
    assert!(
        shown.contains("on refresh:    a new ID token (with openid)"),
        "{shown}"
    );
}

#[test]
fn upstream_providers_are_added_listed_changed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The provider need not answer to be added: it is asked at sign-in.
    let out = run_with_stdin(
        d,
        &[
            "upstream",
            "create",
            "--id",
            "hub",
            "--name",
            "Hub",
            "--authorization-endpoint",
            "https://hub.example/login/oauth/authorize",
            "--token-endpoint",
            "https://hub.example/login/oauth/access_token",
            "--userinfo-endpoint",
            "https://api.hub.example/user",
            "--client-id",
            "hub-client",
            "--client-secret-stdin",
            "--auth-method",
            "client_secret_post",
            "--claim",
            "sub=id",
            "--claim",
            "preferred_username=login",
            "--domain",
            "hub.example",
            "--json",
        ],
        "the hub secret\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created = json(&out);
    assert_eq!(created["source"], "database");
    assert_eq!(created["claims"]["sub"], "id");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("the hub secret"));
    let all = json(&run(d, &["upstream", "list", "--json"]));
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(all[0]["id"], "hub");
    assert_eq!(all[0]["auth_method"], "client_secret_post");
    // The same id again, or a bad table: refused, naming why.
    let again = run_with_stdin(
        d,
        &[
            "upstream",
            "create",
            "--id",
            "hub",
            "--name",
            "Hub",
            "--issuer",
            "https://idp.example",
            "--client-id",
            "c",
            "--client-secret-stdin",
        ],
        "s\n",
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    let bad = run_with_stdin(
        d,
        &[
            "upstream",
            "create",
            "--id",
            "corp",
            "--name",
            "Corp",
            "--issuer",
            "http://idp.example",
            "--client-id",
            "c",
            "--client-secret-stdin",
        ],
        "s\n",
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("must be https"));
    // Changed, the secret kept (the table still checks out), then removed.
    run(
        d,
        &[
            "upstream",
            "update",
            "hub",
            "--name",
            "Hub Enterprise",
            "--users",
            "existing",
        ],
    );
    let shown = json(&run(d, &["upstream", "show", "hub", "--json"]));
    assert_eq!(shown["name"], "Hub Enterprise");
    assert_eq!(shown["users"], "existing");
    let trail = audit(d, &["--action", "upstream."]);
    assert!(trail.iter().any(|e| e["action"] == "upstream.update"));
    let created_entry = trail
        .iter()
        .find(|e| e["action"] == "upstream.create")
        .unwrap();
    assert_eq!(created_entry["changes"]["client_secret"]["to"], "[hidden]");
    assert!(
        !serde_json::to_string(&trail)
            .unwrap()
            .contains("the hub secret")
    );
    run(d, &["upstream", "delete", "hub"]);
    assert_eq!(
        json(&run(d, &["upstream", "list", "--json"])),
        serde_json::json!([])
    );
}
