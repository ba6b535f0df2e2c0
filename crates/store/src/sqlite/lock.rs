//! Who has a database file open: every `SqliteStore` holds a shared `flock` on a lock
//! file beside it (`valet.db` → `valet.db.lock`, created 0600, empty) for as long as it
//! lives, and `valet migrate` takes it exclusive for the copy. So a copy refuses while a
//! server (or an admin command) has the file open, and a server refuses to start while a
//! copy runs. The kernel releases a `flock` when its process ends, however it ends, so a
//! crashed server never leaves the file looking in use. The lock is a file of its own,
//! not the database: SQLite's own locks are `fcntl` locks on the database, which some
//! network file systems emulate `flock` with.

use rustix::fs::{FlockOperation, flock};
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::{Result, StoreError};

/// A held lock on a database file; released when dropped (or the process ends).
#[derive(Debug)]
pub(super) struct FileLock {
    _file: File,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Any number of stores at once: servers and admin commands.
    Shared,
    /// No other holder: a copy (`valet migrate`).
    Exclusive,
}

/// The lock file of the database at `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the lock of `db` in `mode` without waiting: `Unavailable`, saying who holds it,
/// when another process holds it the other way.
pub(super) fn lock(db: &Path, mode: Mode) -> Result<FileLock> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = lock_path(db);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    let op = match mode {
        Mode::Shared => FlockOperation::NonBlockingLockShared,
        Mode::Exclusive => FlockOperation::NonBlockingLockExclusive,
    };
    match flock(&file, op) {
        Ok(()) => Ok(FileLock { _file: file }),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(StoreError::Unavailable(match mode {
            Mode::Shared => format!(
                "{} is being copied by `valet migrate` (it holds {}); wait until it has \
                 finished, then use the PostgreSQL database it copied to",
                db.display(),
                path.display()
            ),
            Mode::Exclusive => format!(
                "{} is in use: a `valet serve` (or another valet command) has it open (it \
                 holds {}); stop every server on it first, so that nothing is written \
                 after the copy",
                db.display(),
                path.display()
            ),
        })),
        Err(e) => Err(StoreError::Unavailable(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_holders_coexist_and_keep_an_exclusive_one_out() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("v.db");
        let a = lock(&db, Mode::Shared).unwrap();
        let b = lock(&db, Mode::Shared).unwrap();
        let refused = lock(&db, Mode::Exclusive).unwrap_err().to_string();
        assert!(refused.contains("valet serve"), "{refused}");
        drop((a, b));
        let copy = lock(&db, Mode::Exclusive).unwrap();
        let refused = lock(&db, Mode::Shared).unwrap_err().to_string();
        assert!(refused.contains("valet migrate"), "{refused}");
        drop(copy);
        assert!(lock(&db, Mode::Shared).is_ok());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(lock_path(&db))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
