//! The catalog's caches (issue 17, item 1): answers by key (an application by client_id,
//! whether an origin is some application's, the APIs), each fresh for `ttl` seconds of
//! the node's clock, in a map bounded in entries (and keys bounded in length) that drops
//! the least recently used when full, so memory stays bounded whatever the number of
//! applications or of origins callers send.
//!
//! Never a stampede: when an answer is missing or expired, one caller per key loads it
//! (single flight). Meanwhile the others answer from the value it replaces if that
//! expired within the last second (a key in use, refreshed as it expires), or wait for
//! the load (a key not asked about lately: its old value may be too old to give). A
//! failed or abandoned load keeps nothing: its waiters load once more each, uncached, and
//! the next caller starts afresh, so a stale answer is never given past one refresh.
//!
//! The bound: an answer is given at most `ttl` seconds after the load that produced it
//! began, or, while one caller refreshes it, for that refresh's duration plus up to one
//! second more (a load is itself bounded by `database_timeout`). `forget` and `clear` drop
//! answers at once (a change made through this node).

use hashlink::LruCache;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use tokio::sync::watch;

/// Keys longer than this are looked up every time and never kept: an `Origin` header is
/// the caller's to choose, and a bound on entries must also bound memory.
pub const MAX_KEY: usize = 512;

pub struct Answers<V> {
    ttl: i64,
    slots: Mutex<LruCache<String, Arc<Slot<V>>>>,
}

struct Slot<V> {
    /// When the load that fills `value` began, on the node's clock.
    at: i64,
    value: OnceLock<V>,
    /// What callers other than the loader answer while `value` loads (see the module).
    stale: Option<V>,
    /// Closed when the loader is done, whether it succeeded, failed or was dropped.
    loaded: watch::Receiver<()>,
}

enum Role<V> {
    Ready(V),
    Wait(Arc<Slot<V>>),
    Load(Arc<Slot<V>>, watch::Sender<()>),
}

/// The loader's hold on its slot: if it ends without a value (an error, or the request
/// went away mid-load), the slot goes, then its waiters wake (fields drop after `drop`).
struct Loading<'a, V> {
    answers: &'a Answers<V>,
    key: &'a str,
    slot: Arc<Slot<V>>,
    _done: watch::Sender<()>,
}

impl<V> Drop for Loading<'_, V> {
    fn drop(&mut self) {
        if self.slot.value.get().is_none() {
            self.answers.drop_slot(self.key, &self.slot);
        }
    }
}

impl<V: Clone> Answers<V> {
    /// Answers fresh for `ttl` seconds (0: none kept), at most `capacity` of them.
    pub fn new(ttl: i64, capacity: usize) -> Self {
        Self {
            ttl: ttl.max(0),
            slots: Mutex::new(LruCache::new(capacity.max(1))),
        }
    }

    /// The answer for `key` at `now`: kept, or loaded by `load` (by one caller per key at
    /// a time). An answer for which `keep` is false is given to the callers waiting for it
    /// but not kept (an unknown client_id). An error is never kept.
    pub async fn get<E, Fut>(
        &self,
        key: &str,
        now: i64,
        keep: impl Fn(&V) -> bool,
        load: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        Fut: Future<Output = Result<V, E>>,
    {
        if key.len() > MAX_KEY {
            return load().await;
        }
        let loading = match self.role(key, now) {
            Role::Ready(v) => return Ok(v),
            Role::Wait(slot) => {
                let mut loaded = slot.loaded.clone();
                // Returns once the loader is done (its sender closed), whatever became of it.
                let _ = loaded.changed().await;
                return match slot.value.get() {
                    Some(v) => Ok(v.clone()),
                    None => load().await,
                };
            }
            Role::Load(slot, done) => Loading {
                answers: self,
                key,
                slot,
                _done: done,
            },
        };
        let v = load().await?;
        let _ = loading.slot.value.set(v.clone());
        if !keep(&v) {
            self.drop_slot(key, &loading.slot);
        }
        Ok(v)
    }

    fn role(&self, key: &str, now: i64) -> Role<V> {
        let mut slots = self.lock();
        let previous = slots.get(key).cloned();
        if let Some(s) = &previous {
            if (0..self.ttl).contains(&(now - s.at)) {
                return match (s.value.get(), &s.stale) {
                    (Some(v), _) | (None, Some(v)) => Role::Ready(v.clone()),
                    (None, None) => Role::Wait(s.clone()),
                };
            }
        }
        // Missing or expired: this caller loads. A value that expired within the last
        // second is what the others answer meanwhile; an older one is not given again.
        let stale = previous
            .filter(|s| self.ttl > 0 && now - s.at == self.ttl)
            .and_then(|s| s.value.get().cloned());
        let (done, loaded) = watch::channel(());
        let slot = Arc::new(Slot {
            at: now,
            value: OnceLock::new(),
            stale,
            loaded,
        });
        slots.insert(key.to_owned(), slot.clone());
        Role::Load(slot, done)
    }
}

impl<V> Answers<V> {
    /// Drops the answer for `key`: the next caller loads it.
    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Drops every answer.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Drops `slot` if it is still the one kept for `key`.
    fn drop_slot(&self, key: &str, slot: &Arc<Slot<V>>) {
        let mut slots = self.lock();
        if slots.peek(key).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            slots.remove(key);
        }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<String, Arc<Slot<V>>>> {
        // The map is never left half-changed by a panic (no code of ours runs inside its
        // methods), so a poisoned lock is still good.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
#[path = "answers_tests.rs"]
mod tests;
