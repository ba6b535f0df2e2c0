//! Issue 12: what the admin commands accept and show (items 11, 16, 18).

use serde_json::Value;

use crate::support::{run, valet};

fn created(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn client_show_says_which_methods_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = [
        "client",
        "create",
        "--name",
        "svc",
        "--profile",
        "service",
        "--json",
    ];
    let default = created(&run(d, &base));
    assert_eq!(default["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(default["token_endpoint_auth_method_chosen"], false);
    let mut args = base.to_vec();
    args.extend(["--auth-method", "client_secret_basic"]);
    let chosen = created(&run(d, &args));
    assert_eq!(chosen["token_endpoint_auth_method_chosen"], true);

    let show = |id: &Value| {
        let out = run(d, &["client", "show", id.as_str().unwrap()]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = show(&default["client_id"]);
    assert!(
        text.contains("client_secret_basic or client_secret_post (none chosen at registration)"),
        "{text}"
    );
    let text = show(&chosen["client_id"]);
    assert!(
        text.contains("auth method:   client_secret_basic (chosen at registration)"),
        "{text}"
    );
    let out = valet(d)
        .args(["client", "create", "--name", "x", "--profile", "service"])
        .args(["--auth-method", "client_secret_jwt"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// Runs a command that must fail; returns its standard error.
fn refused(d: &std::path::Path, args: &[&str], stdin: Option<&str>) -> String {
    let out = match stdin {
        Some(input) => crate::support::run_with_stdin(d, args, input),
        None => valet(d).args(args).output().unwrap(),
    };
    assert!(!out.status.success(), "{args:?} was accepted");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !err.contains('\u{1b}') && !err.contains('\u{202e}'),
        "the error shows the value escaped: {err:?}"
    );
    err
}

#[test]
fn control_characters_and_non_ascii_uris_are_refused_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let web = |extra: &[&'static str]| {
        let mut a = vec![
            "client",
            "create",
            "--profile",
            "web",
            "--redirect-uri",
            "https://app.example/cb",
        ];
        a.extend_from_slice(extra);
        a
    };
    let err = refused(d, &web(&["--name", "Web\u{1b}[2J"]), None);
    assert!(err.contains("name") && err.contains("U+001B"), "{err}");
    let err = refused(
        d,
        &web(&["--name", "Web", "--description", "hi\u{1b}]0;pwned\u{7}"]),
        None,
    );
    assert!(err.contains("description"), "{err}");
    let err = refused(
        d,
        &[
            "client",
            "create",
            "--name",
            "Web",
            "--profile",
            "web",
            "--redirect-uri",
            "https://app.example/\u{202e}bc",
        ],
        None,
    );
    assert!(
        err.contains("redirect URI") && err.contains("ASCII"),
        "{err}"
    );
    let err = refused(
        d,
        &web(&[
            "--name",
            "Web",
            "--logo-uri",
            "https://app.example/\u{202e}.png",
        ]),
        None,
    );
    assert!(err.contains("logo_uri"), "{err}");
    let err = refused(
        d,
        &[
            "api",
            "create",
            "--audience",
            "https://api.example",
            "--scope",
            "a.read=Read \u{1b}[31mall",
        ],
        None,
    );
    assert!(err.contains("description of scope a.read"), "{err}");
    let err = refused(
        d,
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--name",
            "Alice\u{1b}[2J",
            "--password-stdin",
        ],
        Some("a long enough password\n"),
    );
    assert!(err.contains("name"), "{err}");
    // Nothing was stored.
    let listed: Value =
        serde_json::from_slice(&run(d, &["client", "list", "--json"]).stdout).unwrap();
    assert!(listed.as_array().unwrap().is_empty());
}

#[test]
fn client_show_escapes_what_an_older_version_stored() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let app = created(&run(
        d,
        &[
            "client",
            "create",
            "--name",
            "Plain",
            "--profile",
            "service",
            "--json",
        ],
    ));
    let id = app["client_id"].as_str().unwrap();
    // A registration written before the rule, straight into the database.
    let db = rusqlite::Connection::open(d.join("valet.db")).unwrap();
    let raw: String = db
        .query_row(
            "SELECT registration FROM clients WHERE client_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    let mut v: Value = serde_json::from_str(&raw).unwrap();
    v["name"] = "Evil\u{1b}[2J\u{202e}ppA".into();
    v["description"] = "\u{1b}]0;title\u{7}".into();
    db.execute(
        "UPDATE clients SET registration = ?1 WHERE client_id = ?2",
        [v.to_string(), id.to_owned()],
    )
    .unwrap();
    drop(db);
    for args in [vec!["client", "show", id], vec!["client", "list"]] {
        let out = String::from_utf8_lossy(&run(d, &args).stdout).into_owned();
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{202e}') && !out.contains('\u{7}'),
            "{args:?}: {out:?}"
        );
        assert!(out.contains("Evil\\u{1b}[2J\\u{202e}ppA"), "{out}");
    }
}
