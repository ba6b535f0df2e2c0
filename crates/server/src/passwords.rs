//! Password hashing for the built-in user store: argon2id with the OWASP parameters
//! (19 MiB, 2 iterations, 1 lane). An unknown user is checked against a dummy hash, so
//! "no such user" and "wrong password" take the same time (checklist C10, H1).
//!
//! Each check holds 19 MiB while it runs, so checks are gated (issue 12.2): at most one
//! per core at a time, a short queue behind them, and a caller beyond the queue is told
//! to come back (`Busy`, 503 with `Retry-After`) instead of costing memory. An unknown
//! user goes through the same gate as a known one. The checks run on threads of their
//! own, one per slot, not on Tokio's blocking pool: the allocator keeps a freed 19 MiB
//! block in the arena of the thread that freed it, so checks spread over the pool's many
//! threads each left one behind (measured: 180 MB after ten checks on a pool of 80
//! threads); a fixed set of threads reuses the same few blocks.

use argon2::password_hash::{PasswordHash as Phc, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use valet_store::PasswordHash;

pub use crate::password_policy::{MAX_LEN as MAX_PASSWORD_LEN, MIN_LEN as MIN_PASSWORD_LEN};

/// Callers that may wait for a hashing slot, per slot.
const QUEUE_PER_SLOT: usize = 16;
/// Longest wait in the queue before the caller is told to come back.
const QUEUE_WAIT: Duration = Duration::from_secs(5);

/// Every hashing slot is taken and the queue is full: retry shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

pub struct Passwords {
    argon: Argon2<'static>,
    /// Hashed on first need: creating a user never pays for it.
    dummy: std::sync::OnceLock<Option<String>>,
    slots: Arc<Semaphore>,
    queued: AtomicUsize,
    max_queued: usize,
    /// The hashing threads take jobs from here; a job is only sent with a slot held, so
    /// at most one per thread is ever waiting.
    jobs: std::sync::mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

fn hashing_threads(n: usize) -> Result<std::sync::mpsc::Sender<Job>, String> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..n {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("valet-hash-{i}"))
            .spawn(move || {
                loop {
                    let job = {
                        let rx = rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        rx.recv()
                    };
                    match job {
                        Ok(job) => job(),
                        // Every sender is gone: the node is stopping.
                        Err(_) => return,
                    }
                }
            })
            .map_err(|e| format!("cannot start a password-hashing thread: {e}"))?;
    }
    Ok(tx)
}

impl Passwords {
    /// One hashing slot per core.
    pub fn new() -> Result<Self, String> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with_slots(cores)
    }

    pub fn with_slots(slots: usize) -> Result<Self, String> {
        let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| e.to_string())?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let slots = slots.max(1);
        Ok(Self {
            argon,
            dummy: std::sync::OnceLock::new(),
            slots: Arc::new(Semaphore::new(slots)),
            queued: AtomicUsize::new(0),
            max_queued: slots * QUEUE_PER_SLOT,
            jobs: hashing_threads(slots)?,
        })
    }

    /// `verify`, off the async workers and through the gate: `Err(Busy)` when every slot
    /// is taken and the queue is full (or the wait in it ran out).
    pub async fn verify_gated(
        self: &Arc<Self>,
        password: &str,
        stored: Option<PasswordHash>,
    ) -> Result<bool, Busy> {
        let password = password.to_owned();
        self.gated(move |me| me.verify(&password, stored.as_ref()))
            .await
    }

    /// `hash` (a new password), through the same gate as `verify_gated`: a hash costs the
    /// same memory and time as a check.
    pub async fn hash_gated(
        self: &Arc<Self>,
        password: &str,
    ) -> Result<Result<PasswordHash, String>, Busy> {
        let password = password.to_owned();
        self.gated(move |me| me.hash(&password)).await
    }

    /// Runs `work` on the hashing threads once a slot is free.
    async fn gated<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Self) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queued {
                    self.queued.fetch_sub(1, Ordering::AcqRel);
                    return Err(Busy);
                }
                let waited =
                    tokio::time::timeout(QUEUE_WAIT, self.slots.clone().acquire_owned()).await;
                self.queued.fetch_sub(1, Ordering::AcqRel);
                match waited {
                    Ok(Ok(p)) => p,
                    _ => return Err(Busy),
                }
            }
        };
        let me = self.clone();
        let (done, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let out = work(&me);
            drop(permit);
            let _ = done.send(out);
        });
        if self.jobs.send(job).is_err() {
            return Err(Busy);
        }
        answer.await.map_err(|_| Busy)
    }

    /// The rule every new password meets (`password_policy`: NIST SP 800-63B §5.1.1.2).
    pub fn check_policy(password: &str) -> Result<(), String> {
        crate::password_policy::check(password)
    }

    pub fn hash(&self, password: &str) -> Result<PasswordHash, String> {
        let salt = new_salt()?;
        self.argon
            .hash_password(password.as_bytes(), &salt)
            .map(|h| PasswordHash(h.to_string()))
            .map_err(|e| e.to_string())
    }

    /// True when `password` matches `stored`. With no stored hash (unknown user, or a
    /// user without a password) the work is done against the dummy and the answer is no.
    pub fn verify(&self, password: &str, stored: Option<&PasswordHash>) -> bool {
        if password.len() > MAX_PASSWORD_LEN {
            return false;
        }
        let dummy = || {
            self.dummy
                .get_or_init(|| self.hash("valet dummy password").ok().map(|h| h.0))
                .as_deref()
                .unwrap_or("")
        };
        let (phc, real) = match stored {
            Some(h) => (h.0.as_str(), true),
            None => (dummy(), false),
        };
        let Ok(parsed) = Phc::new(phc) else {
            return false;
        };
        let ok = MEMORY.with(|m| check(password.as_bytes(), &parsed, &mut m.borrow_mut()));
        ok && real
    }
}

/// Largest argon2 memory a stored hash may ask for (64 MiB): a hash with more is refused
/// rather than honoured, so no stored value can make a check cost more.
const MAX_BLOCKS: usize = 64 * 1024;

thread_local! {
    /// The argon2 working memory of this thread, allocated once and reused by every
    /// check: a check allocates nothing (each fresh 19 MiB allocation was seen to stay
    /// resident after it was freed, so memory grew with every check).
    static MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Recomputes `stored`'s hash of `password` in `memory` and compares in constant time.
fn check(password: &[u8], stored: &Phc<'_>, memory: &mut Vec<argon2::Block>) -> bool {
    let (Some(expected), Some(salt)) = (stored.hash, stored.salt) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(stored.algorithm),
        Params::try_from(stored),
    ) else {
        return false;
    };
    let version = match stored.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return false;
    }
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    if memory.len() < blocks {
        memory.resize(blocks, argon2::Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    argon
        .hash_password_into_with_memory(password, salt, &mut out, &mut memory[..blocks])
        .is_ok()
        && aws_lc_rs::constant_time::verify_slices_are_equal(&out, expected.as_bytes()).is_ok()
}

/// 16 random bytes from the system generator (RFC 9106 §3.1 recommends 128-bit salts).
fn new_salt() -> Result<SaltString, String> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| "the system random generator failed".to_string())?;
    SaltString::encode_b64(&bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let p = Passwords::new().unwrap();
        let h = p.hash("correct horse battery").unwrap();
        assert!(
            h.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            h.0
        );
        assert!(p.verify("correct horse battery", Some(&h)));
        assert!(!p.verify("correct horse batterx", Some(&h)));
        assert!(
            !p.verify("valet dummy password", None),
            "the dummy never signs anyone in"
        );
        assert!(!p.verify("x", Some(&PasswordHash("not a phc string".into()))));
        assert_ne!(p.hash("same").unwrap(), p.hash("same").unwrap(), "salted");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_gate_bounds_concurrent_checks_and_sheds_the_rest() {
        let p = Arc::new(Passwords::with_slots(1).unwrap());
        let h = p.hash("correct horse battery").unwrap();
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (p, h) = (p.clone(), h.clone());
            tasks.push(tokio::spawn(async move {
                p.verify_gated("correct horse battery", Some(h)).await
            }));
        }
        let mut ok = 0;
        let mut busy = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(true) => ok += 1,
                Ok(false) => panic!("a right password failed"),
                Err(Busy) => busy += 1,
            }
        }
        // One running and four queued at most when the burst arrives; the rest are shed.
        assert!((1..=20).contains(&ok), "{ok}");
        assert!(busy >= 20 - 1 - QUEUE_PER_SLOT, "{busy} shed of 20");
        assert_eq!(p.queued.load(Ordering::Acquire), 0);
        assert!(
            p.verify_gated("correct horse battery", Some(h))
                .await
                .unwrap()
        );
    }

    #[test]
    fn policy() {
        assert!(Passwords::check_policy("short").is_err());
        assert!(Passwords::check_policy("long enough").is_ok());
        assert!(Passwords::check_policy("Password1").is_err(), "too common");
        assert!(Passwords::check_policy(&"x".repeat(MAX_PASSWORD_LEN + 1)).is_err());
    }
}
