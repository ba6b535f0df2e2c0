//! Issue 16 from the command line: `valet user mfa reset` (the help desk's reset,
//! positional or `--username`, audited), `--require-mfa` on applications, and `--mfa`.

use serde_json::Value;

use crate::support::{run, run_with_stdin, valet};

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

fn count(d: &std::path::Path, table: &str) -> i64 {
    let db = rusqlite::Connection::open(d.join("valet.db")).unwrap();
    db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn the_help_desk_resets_a_users_second_factors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let alice = json(&run_with_stdin(
        d,
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--password-stdin",
            "--json",
        ],
        "correct horse battery staple\n",
    ));
    let sub = alice["sub"].as_str().unwrap().to_owned();
    // An enrolled authenticator app and two recovery codes, as the server stores them.
    {
        let db = rusqlite::Connection::open(d.join("valet.db")).unwrap();
        db.execute(
            "INSERT INTO totp_factors (user_id, secret, last_step, created_at) VALUES (?1, x'00', 1, 1)",
            [&sub],
        )
        .unwrap();
        for h in ["x'01'", "x'02'"] {
            db.execute(
                &format!(
                    "INSERT INTO recovery_codes (user_id, hash, created_at) VALUES (?1, {h}, 1)"
                ),
                [&sub],
            )
            .unwrap();
        }
    }
    let out = run(d, &["user", "mfa", "reset", "alice"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Removed"));
    assert_eq!(
        (count(d, "totp_factors"), count(d, "recovery_codes")),
        (0, 0)
    );
    let out = run(d, &["user", "mfa", "reset", "--username", "alice"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to remove"));
    let unknown = valet(d)
        .args(["user", "mfa", "reset", "bob"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    let none = valet(d).args(["user", "mfa", "reset"]).output().unwrap();
    assert!(!none.status.success(), "a user must be named");

    // A directory user, named by subject (the database does not list them by name).
    {
        let db = rusqlite::Connection::open(d.join("valet.db")).unwrap();
        db.execute(
            "INSERT INTO totp_factors (user_id, secret, last_step, created_at) \
             VALUES ('corp:4711', x'00', 1, 1)",
            [],
        )
        .unwrap();
    }
    let out = run(d, &["user", "mfa", "reset", "--sub", "corp:4711"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Removed"));
    assert_eq!(count(d, "totp_factors"), 0);
    let both = valet(d)
        .args(["user", "mfa", "reset", "alice", "--sub", "corp:4711"])
        .output()
        .unwrap();
    assert!(!both.status.success(), "a name or a subject, not both");

    let trail =
        String::from_utf8(run(d, &["audit", "--json", "--action", "user.mfa_reset"]).stdout)
            .unwrap();
    assert_eq!(trail.lines().count(), 3, "{trail}");
    assert!(trail.contains("\"user:alice\""));
    assert!(trail.contains("\"user:corp:4711\""));
}

#[test]
fn applications_may_require_a_second_factor() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = [
        "client",
        "create",
        "--name",
        "Payroll",
        "--profile",
        "web",
        "--redirect-uri",
        "https://payroll.example/cb",
        "--require-mfa",
        "--json",
    ];
    let created = json(&run(d, &args));
    assert_eq!(created["require_mfa"], true);
    let id = created["client_id"].as_str().unwrap().to_owned();
    let updated = json(&run(
        d,
        &["client", "update", &id, "--require-mfa", "false", "--json"],
    ));
    assert!(
        updated.get("require_mfa").is_none_or(|v| v == false),
        "{updated}"
    );
    let plain = json(&run(
        d,
        &[
            "client",
            "create",
            "--name",
            "Wiki",
            "--profile",
            "web",
            "--redirect-uri",
            "https://wiki.example/cb",
            "--require-mfa",
            "true",
            "--json",
        ],
    ));
    assert_eq!(plain["require_mfa"], true);

    // The policy is a setting like every other, refused by name when wrong.
    let bad = valet(d)
        .args(["client", "list", "--mfa", "sometimes"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("mfa must be"));
}
