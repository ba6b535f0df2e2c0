//! Where the master key comes from: `VALET_MASTER_KEY`, or a key file beside the database
//! that Valet creates (mode 0600) on first use, and only then: a database that already
//! holds data was set up with a key, and a new one would seal and hash nothing it holds.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::Database;
use crate::crypto::MasterKey;

/// Where this process's master key came from, to say which one to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Env,
    /// The key file, and whether this process just created it.
    File {
        path: PathBuf,
        created: bool,
    },
}

/// Loads the master key from `from_env` if given, else from `file`. The file is created
/// only for a database that does not exist yet (`is_new`): beside an existing SQLite
/// database, or for any PostgreSQL database, a missing key file is refused, since a new
/// key would not open what the database holds.
pub fn load_or_create(
    from_env: Option<&str>,
    file: &Path,
    database: &Database,
) -> Result<(MasterKey, Source), String> {
    if let Some(text) = from_env {
        return MasterKey::parse(text)
            .map(|k| (k, Source::Env))
            .map_err(|e| format!("VALET_MASTER_KEY: {e}"));
    }
    let source = |created| Source::File {
        path: file.to_path_buf(),
        created,
    };
    match std::fs::read_to_string(file) {
        Ok(text) => {
            if let Ok(meta) = std::fs::metadata(file) {
                if meta.permissions().mode() & 0o077 != 0 {
                    tracing::warn!(
                        file = %file.display(),
                        "the master key file is readable by other users; run chmod 600 on it"
                    );
                }
            }
            MasterKey::parse(&text)
                .map(|k| (k, source(false)))
                .map_err(|e| format!("master key file {}: {e}", file.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            refuse_a_new_key(file, database)?;
            let key = MasterKey::generate().map_err(|e| e.to_string())?;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(file)
                .map_err(|e| format!("cannot create master key file {}: {e}", file.display()))?;
            f.write_all(format!("{}\n", key.encode()).as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| format!("cannot write master key file {}: {e}", file.display()))?;
            Ok((key, source(true)))
        }
        Err(e) => Err(format!(
            "cannot read master key file {}: {e}",
            file.display()
        )),
    }
}

/// Whether `database` is new: a SQLite file that does not exist yet or is empty. A
/// PostgreSQL database is never taken as new: its nodes share one key, which the
/// operator gives each of them.
pub fn is_new(database: &Database) -> bool {
    match database {
        Database::Sqlite(path) => std::fs::metadata(path).map_or(true, |m| m.len() == 0),
        Database::Postgres(_) => false,
    }
}

fn refuse_a_new_key(file: &Path, database: &Database) -> Result<(), String> {
    if is_new(database) {
        return Ok(());
    }
    Err(match database {
        Database::Sqlite(path) => format!(
            "the master key file {} does not exist, but the database {} does: Valet creates \
             a master key only for a new database (a new key would not open the signing keys \
             nor check the client secrets it holds). Restore the key file from your backup, \
             point --master-key-file (VALET_MASTER_KEY_FILE) at it, or set VALET_MASTER_KEY",
            file.display(),
            path.display()
        ),
        Database::Postgres(_) => format!(
            "no master key for the PostgreSQL database: set VALET_MASTER_KEY (the same on \
             every node; for a new deployment 32 random bytes, e.g. `openssl rand -hex 32`), \
             or point --master-key-file (VALET_MASTER_KEY_FILE) at an existing key file \
             ({} does not exist). Valet creates a key file only beside a new SQLite database",
            file.display()
        ),
    })
}

/// The refusal when `source`'s key does not open what `database` holds (its signing keys
/// are sealed under another master key): nothing is written with it.
pub fn mismatch(source: &Source, database: &Database) -> String {
    let db = match database {
        Database::Sqlite(path) => format!("the database {}", path.display()),
        Database::Postgres(_) => "the PostgreSQL database".to_string(),
    };
    let fix = match source {
        Source::Env => "the master key in VALET_MASTER_KEY is not the one it was set up with. \
             Set VALET_MASTER_KEY to that key, or unset it to use the key file"
            .to_string(),
        Source::File { path, .. } => format!(
            "the master key in {} is not the one it was set up with. Point \
             --master-key-file (VALET_MASTER_KEY_FILE) at that key's file, or set \
             VALET_MASTER_KEY to it",
            path.display()
        ),
    };
    format!(
        "the master key does not open the signing keys of {db}: {fix}. Nothing was written \
         (a client secret hashed under a wrong key could never be checked)"
    )
}

/// The note printed when a key file was created: losing the key loses the keys it seals.
pub fn backup_note(file: &Path) -> String {
    format!(
        "\n  *** Valet created a new master key in {} ***\n  \
         BACK IT UP. It encrypts the signing keys and keys the client-secret hashes in the\n  \
         database; without it they are useless. In production, set VALET_MASTER_KEY instead.\n",
        file.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_private_file_once_then_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v.master-key");
        let db = Database::Sqlite(dir.path().join("v.db"));
        let (k1, source) = load_or_create(None, &f, &db).unwrap();
        assert!(matches!(source, Source::File { created: true, .. }));
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (k2, source) = load_or_create(None, &f, &db).unwrap();
        assert!(matches!(source, Source::File { created: false, .. }));
        assert_eq!(k1.encode(), k2.encode());
    }

    #[test]
    fn env_wins_and_is_validated() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("none");
        let db = Database::Postgres(crate::config::PostgresUrl("postgres://h/db".into()));
        let k = MasterKey::generate().unwrap();
        let (got, source) = load_or_create(Some(&k.encode()), &f, &db).unwrap();
        assert_eq!(got.encode(), k.encode());
        assert!(source == Source::Env && !f.exists());
        assert!(
            load_or_create(Some("nope"), &f, &db)
                .unwrap_err()
                .contains("VALET_MASTER_KEY")
        );
    }

    #[test]
    fn no_new_key_beside_an_existing_database_nor_for_postgres() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v.master-key");
        let path = dir.path().join("v.db");
        // An empty file is as new as none (what a start that failed early leaves).
        std::fs::write(&path, b"").unwrap();
        let sqlite = Database::Sqlite(path.clone());
        assert!(is_new(&sqlite));
        std::fs::write(&path, b"SQLite format 3\0").unwrap();
        assert!(!is_new(&sqlite));
        let e = load_or_create(None, &f, &sqlite).unwrap_err();
        assert!(
            e.contains("VALET_MASTER_KEY") && e.contains("v.master-key"),
            "{e}"
        );
        assert!(!f.exists());

        let pg = Database::Postgres(crate::config::PostgresUrl("postgres://u:pw@h/db".into()));
        let e = load_or_create(None, &f, &pg).unwrap_err();
        assert!(e.contains("VALET_MASTER_KEY") && !e.contains("pw"), "{e}");
        assert!(!f.exists());

        // An existing key file is used for either.
        let k = MasterKey::generate().unwrap();
        std::fs::write(&f, k.encode()).unwrap();
        for db in [&sqlite, &pg] {
            assert_eq!(load_or_create(None, &f, db).unwrap().0.encode(), k.encode());
        }
    }

    #[test]
    fn a_mismatch_names_the_key_to_fix() {
        let db = Database::Sqlite("v.db".into());
        let env = mismatch(&Source::Env, &db);
        assert!(
            env.contains("VALET_MASTER_KEY") && env.contains("v.db"),
            "{env}"
        );
        let file = Source::File {
            path: "keys/v.master-key".into(),
            created: false,
        };
        let text = mismatch(&file, &db);
        assert!(text.contains("keys/v.master-key") && text.contains("--master-key-file"));
    }
}
