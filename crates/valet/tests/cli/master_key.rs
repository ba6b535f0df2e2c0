//! The master key and the database go together: a command whose key does not open what
//! the database holds writes nothing, and a key file is made only for a new database.

use serde_json::Value;
use std::path::Path;
use std::process::Output;

use crate::support::{run, valet};

const OTHER_KEY: &str = "abababababababababababababababababababababababababababababababab";

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn create_service(d: &Path, name: &str) -> Value {
    let out = run(
        d,
        &[
            "client",
            "create",
            "--name",
            name,
            "--profile",
            "service",
            "--json",
        ],
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn clients(d: &Path) -> usize {
    let out = run(d, &["client", "list", "--json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    list.as_array().unwrap().len()
}

#[test]
fn a_wrong_master_key_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The first command sets the database up under the key file it creates.
    let web = create_service(d, "svc");
    let id = web["client_id"].as_str().unwrap();
    assert_eq!(clients(d), 1);

    let out = valet(d)
        .args(["client", "create", "--name", "x", "--profile", "service"])
        .env("VALET_MASTER_KEY", OTHER_KEY)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("does not open") && e.contains("VALET_MASTER_KEY") && e.contains("valet.db"),
        "{e}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("client_secret"));

    // Rotating a secret under the wrong key would lock the application out: refused.
    let out = valet(d)
        .args(["client", "rotate-secret", id])
        .env("VALET_MASTER_KEY", OTHER_KEY)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not open"));
    assert_eq!(clients(d), 1, "nothing was written");

    // Another key file is named as the one to fix.
    std::fs::write(d.join("other.key"), OTHER_KEY).unwrap();
    let out = valet(d)
        .args(["--master-key-file", "other.key", "user", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("other.key") && e.contains("--master-key-file"),
        "{e}"
    );

    // So does a server.
    let out = valet(d)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("VALET_MASTER_KEY", OTHER_KEY)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not open"), "{}", stderr(&out));
}

#[test]
fn the_first_write_binds_the_database_to_its_key() {
    // Set up with VALET_MASTER_KEY and no server ever run: a later command with another
    // key (here, a key file it would create) is refused all the same.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = "cd".repeat(32);
    let out = valet(d)
        .args(["client", "create", "--name", "svc", "--profile", "service"])
        .env("VALET_MASTER_KEY", &key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !d.join("valet.master-key").exists(),
        "the key came from the environment"
    );

    let out = valet(d)
        .args(["client", "create", "--name", "x", "--profile", "service"])
        .env("VALET_MASTER_KEY", OTHER_KEY)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not open"));
    let out = valet(d)
        .args(["client", "list", "--json"])
        .env("VALET_MASTER_KEY", &key)
        .output()
        .unwrap();
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn no_new_key_file_beside_an_existing_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create_service(d, "svc");
    std::fs::rename(d.join("valet.master-key"), d.join("backup.key")).unwrap();

    for args in [
        &["client", "create", "--name", "x", "--profile", "service"][..],
        &["client", "list"],
        &["serve", "--listen", "127.0.0.1:0"],
    ] {
        let out = valet(d).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let e = stderr(&out);
        assert!(
            e.contains("valet.master-key")
                && e.contains("does not exist")
                && e.contains("VALET_MASTER_KEY"),
            "{args:?}: {e}"
        );
        assert!(!d.join("valet.master-key").exists(), "{args:?}");
    }
    // With its key back, all is as it was.
    let out = run(
        d,
        &[
            "--master-key-file",
            "backup.key",
            "client",
            "list",
            "--json",
        ],
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn no_new_key_file_for_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Refused before any connection: nothing listens on port 1.
    let url = "postgres://valet:secret-pw@127.0.0.1:1/valet";
    for args in [
        &["--database", url, "client", "list"][..],
        &["--database", url, "serve", "--listen", "127.0.0.1:0"],
    ] {
        let out = valet(d).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let e = stderr(&out);
        assert!(
            e.contains("PostgreSQL") && e.contains("VALET_MASTER_KEY") && !e.contains("secret-pw"),
            "{args:?}: {e}"
        );
        assert_eq!(std::fs::read_dir(d).unwrap().count(), 0, "no file made");
    }
}

#[test]
fn the_database_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create_service(d, "svc");
    for f in [
        "valet.db",
        "valet.db-wal",
        "valet.master-key",
        "valet.db.lock",
    ] {
        let p = d.join(f);
        if f.ends_with("-wal") && !p.exists() {
            continue; // checkpointed and removed at close
        }
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}: {mode:o}");
    }
}
