//! Fetched metadata documents, kept as the CIMD draft's "Metadata Caching" allows: for the
//! lifetime their HTTP caching headers give, within bounds (`cimd::cache_ttl`), read with
//! the node's clock. At most `MAX_ENTRIES` documents of at most 5 KB each: when full, the
//! expired ones go first, then the one closest to expiry. Errors are never kept. Concurrent
//! lookups of one URL that find nothing share one fetch (`Flights`). Application logos
//! (`logos/`) are kept in the same kind of cache, bounded in bytes too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;
use valet_protocol::UnixTime;

pub const MAX_ENTRIES: usize = 1000;

/// A kept value: when it expires, its size, and the value.
type Entry<V> = (UnixTime, usize, V);

/// Values by URL, bounded in count and in the bytes they hold.
pub struct Cache<V = Arc<Vec<u8>>> {
    entries: Mutex<HashMap<String, Entry<V>>>,
    max: usize,
    max_bytes: usize,
}

impl Default for Cache {
    fn default() -> Self {
        Self::with_capacity(MAX_ENTRIES)
    }
}

impl<V: Clone> Cache<V> {
    pub fn with_capacity(max: usize) -> Self {
        Self::bounded(max, usize::MAX)
    }

    /// At most `max` values holding at most `max_bytes` together.
    pub fn bounded(max: usize, max_bytes: usize) -> Self {
        Self {
            entries: Mutex::default(),
            max,
            max_bytes,
        }
    }

    /// The value kept for `url`, if it has not expired at `now`.
    pub fn get(&self, url: &str, now: UnixTime) -> Option<V> {
        let map = self.entries.lock().ok()?;
        map.get(url)
            .filter(|(expires, _, _)| now < *expires)
            .map(|(_, _, v)| v.clone())
    }

    /// Keeps `value`, of `size` bytes, until `expires_at`; a value larger than the whole
    /// budget is not kept.
    pub fn insert(&self, url: &str, value: V, size: usize, expires_at: UnixTime, now: UnixTime) {
        let Ok(mut map) = self.entries.lock() else {
            return;
        };
        map.remove(url);
        if size > self.max_bytes {
            return;
        }
        let full = |map: &HashMap<String, Entry<V>>| {
            map.len() >= self.max
                || map.values().map(|(_, n, _)| n).sum::<usize>() + size > self.max_bytes
        };
        if full(&map) {
            map.retain(|_, (expires, _, _)| now < *expires);
        }
        while full(&map) {
            let soonest = map
                .iter()
                .min_by_key(|(_, (expires, _, _))| *expires)
                .map(|(k, _)| k.clone());
            match soonest {
                Some(k) => map.remove(&k),
                None => break,
            };
        }
        map.insert(url.to_owned(), (expires_at, size, value));
    }

    pub fn forget(&self, url: &str) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(url);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map_or(0, |m| m.len())
    }
}

/// The outcome of one fetch, shared by everyone who waited for it.
pub type Outcome<T = Arc<Vec<u8>>> = Result<T, String>;

/// Fetches in progress, one per URL.
pub struct Flights<T = Arc<Vec<u8>>> {
    running: Mutex<HashMap<String, Arc<OnceCell<Outcome<T>>>>>,
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Self {
            running: Mutex::default(),
        }
    }
}

impl<T: Clone> Flights<T> {
    /// Runs `fetch` for `url`, or waits for the run already under way and shares its
    /// outcome. If the caller running it goes away, a waiter takes over
    /// (`OnceCell::get_or_init`). The map holds only fetches in progress.
    pub async fn run<F, Fut>(&self, url: &str, fetch: F) -> Outcome<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Outcome<T>>,
    {
        let cell = match self.running.lock() {
            Ok(mut map) => map.entry(url.to_owned()).or_default().clone(),
            Err(_) => Arc::new(OnceCell::new()),
        };
        let outcome = cell.get_or_init(fetch).await.clone();
        if let Ok(mut map) = self.running.lock() {
            if map.get(url).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                map.remove(url);
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_cache_stays_bounded() {
        let c = Cache::with_capacity(3);
        let body = Arc::new(b"{}".to_vec());
        c.insert("a", body.clone(), 2, 100, 0);
        assert!(c.get("a", 99).is_some());
        assert!(c.get("a", 100).is_none(), "gone at its expiry");
        c.insert("b", body.clone(), 2, 50, 0);
        c.insert("c", body.clone(), 2, 200, 0);
        c.insert("d", body.clone(), 2, 300, 0);
        assert_eq!(c.len(), 3);
        assert!(c.get("b", 0).is_none(), "the soonest to expire made room");
        // Expired entries go before live ones.
        c.insert("e", body.clone(), 2, 400, 150);
        assert!(c.get("a", 150).is_none());
        assert!(c.get("c", 150).is_some() && c.get("d", 150).is_some());
        for i in 0..100 {
            c.insert(&format!("x{i}"), body.clone(), 2, 1000, 0);
        }
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn the_byte_budget_holds() {
        let c: Cache<u8> = Cache::bounded(100, 10);
        c.insert("a", 1, 4, 100, 0);
        c.insert("b", 2, 4, 200, 0);
        c.insert("c", 3, 4, 300, 0);
        assert!(c.get("a", 0).is_none(), "the soonest to expire made room");
        assert_eq!((c.get("b", 0), c.get("c", 0)), (Some(2), Some(3)));
        c.insert("huge", 4, 11, 400, 0);
        assert!(c.get("huge", 0).is_none(), "larger than the whole budget");
        // Replacing a value does not count the old one against the new.
        c.insert("c", 5, 6, 300, 0);
        assert_eq!((c.get("b", 0), c.get("c", 0)), (Some(2), Some(5)));
    }

    #[tokio::test]
    async fn concurrent_lookups_share_one_fetch() {
        let flights = Arc::new(Flights::default());
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (release, wait) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (flights, calls, mut wait) = (flights.clone(), calls.clone(), wait.clone());
            tasks.push(tokio::spawn(async move {
                flights
                    .run("u", || async move {
                        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let _ = wait.wait_for(|go| *go).await;
                        Ok(Arc::new(b"doc".to_vec()))
                    })
                    .await
            }));
        }
        tokio::task::yield_now().await;
        let _ = release.send(true);
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().as_slice(), b"doc");
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(flights.running.lock().unwrap().is_empty());
    }
}
