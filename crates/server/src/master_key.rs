//! Where the master key comes from: `VALET_MASTER_KEY`, or a key file beside the database
//! that Valet creates (mode 0600) on first use.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::crypto::MasterKey;

/// Loads the master key from `from_env` if given, else from `file`, creating the file when
/// it does not exist. Returns the key and whether a new file was created.
pub fn load_or_create(from_env: Option<&str>, file: &Path) -> Result<(MasterKey, bool), String> {
    if let Some(text) = from_env {
        return MasterKey::parse(text)
            .map(|k| (k, false))
            .map_err(|e| format!("VALET_MASTER_KEY: {e}"));
    }
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
                .map(|k| (k, false))
                .map_err(|e| format!("master key file {}: {e}", file.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
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
            Ok((key, true))
        }
        Err(e) => Err(format!(
            "cannot read master key file {}: {e}",
            file.display()
        )),
    }
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
        let (k1, created) = load_or_create(None, &f).unwrap();
        assert!(created);
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (k2, created) = load_or_create(None, &f).unwrap();
        assert!(!created);
        assert_eq!(k1.encode(), k2.encode());
    }

    #[test]
    fn env_wins_and_is_validated() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("none");
        let k = MasterKey::generate().unwrap();
        let (got, created) = load_or_create(Some(&k.encode()), &f).unwrap();
        assert_eq!(got.encode(), k.encode());
        assert!(!created && !f.exists());
        assert!(
            load_or_create(Some("nope"), &f)
                .unwrap_err()
                .contains("VALET_MASTER_KEY")
        );
    }
}
